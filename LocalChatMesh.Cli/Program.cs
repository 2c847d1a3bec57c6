using Cocona;
using LocalChatMesh.Cli.Commands;
using Microsoft.Extensions.Logging;

var builder = CoconaApp.CreateBuilder(args);

// Standard output belongs to the commands (chat lines, JSON): logs go to standard error.
builder.Logging.AddConsole(options => options.LogToStandardErrorThreshold = LogLevel.Trace);

var app = builder.Build();
app.AddCommand("version", () => Console.WriteLine(typeof(LocalChatMesh.ChatEndPoint).Assembly.GetName().Version));
app.AddCommands<ClientCommand>();
app.Run();
