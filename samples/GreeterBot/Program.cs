using LocalChatMesh;
using LocalChatMesh.Samples.GreeterBot;

// dotnet run --project samples/GreeterBot -- --server 127.0.0.1:5000 --nickname greeter
string? Option(string name)
{
    var index = Array.IndexOf(args, name);
    return index >= 0 && index + 1 < args.Length ? args[index + 1] : null;
}

if (!ChatEndPoint.TryParse(Option("--server") ?? "127.0.0.1:5000", out var server, out var problem))
{
    Console.Error.WriteLine(problem);
    return 2;
}

var nickname = Option("--nickname") ?? "greeter";

using var stop = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true; // Let the bot leave the chat cleanly instead of dying mid-write.
    stop.Cancel();
};

try
{
    Console.WriteLine($"{nickname} is chatting on {server}; Ctrl+C to leave");
    await Greeter.RunAsync(server, nickname, stop.Token);
    return 0;
}
catch (ChatMeshException exception)
{
    Console.Error.WriteLine(exception.Message);
    return 1;
}
catch (OperationCanceledException)
{
    return 0; // Ctrl+C while still connecting.
}
