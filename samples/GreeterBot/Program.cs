using System.Runtime.InteropServices;
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
    Console.Error.WriteLine($"error: --server: {problem}");
    return 2;
}

var nickname = Option("--nickname") ?? "greeter";

// Ctrl+C (SIGINT) and SIGTERM (a service manager, `kill`) both let the bot leave the chat
// cleanly instead of dying mid-write.
using var stop = new CancellationTokenSource();
using var onInterrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Leave);
using var onTerminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Leave);

void Leave(PosixSignalContext context)
{
    context.Cancel = true;
    stop.Cancel();
}

try
{
    Console.WriteLine($"{nickname} is chatting on {server}; Ctrl+C or SIGTERM to leave");
    var reason = await Greeter.RunAsync(server, nickname, stop.Token);
    Console.WriteLine($"{nickname} stopped: {(stop.IsCancellationRequested ? "Ctrl+C or SIGTERM" : reason)}");
    return 0;
}
catch (ChatHandshakeException exception)
{
    Console.Error.WriteLine($"error: {nickname} could not join: {exception.ServerMessage}");
    return 1;
}
catch (ChatMeshException exception)
{
    // A connection that could not be made, or failed while the bot was chatting.
    Console.Error.WriteLine($"error: {nickname} stopped: {exception.Message}");
    return 1;
}
catch (OperationCanceledException)
{
    Console.WriteLine($"{nickname} stopped: Ctrl+C or SIGTERM while connecting");
    return 0;
}
