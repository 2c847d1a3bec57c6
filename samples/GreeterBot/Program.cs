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
    Console.Error.WriteLine(problem);
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
    return 0; // Stopped while still connecting.
}
