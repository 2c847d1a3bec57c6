using Cocona;

var app = CoconaApp.Create(args);
app.AddCommand("version", () => Console.WriteLine(typeof(LocalChatMesh.ChatEndPoint).Assembly.GetName().Version));
app.Run();
