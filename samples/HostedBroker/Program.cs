using System.Net;
using System.Runtime.InteropServices;
using LocalChatMesh.Samples.HostedBroker;

// dotnet run --project samples/HostedBroker -- [port]
var port = args.Length > 0 ? int.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture) : 5000;
// Ctrl+C (SIGINT) and SIGTERM both stop the room gracefully: clients hear the shutdown notice.
using var stop = new CancellationTokenSource();
using var onInterrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
using var onTerminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);

void Stop(PosixSignalContext context)
{
    context.Cancel = true;
    stop.Cancel();
}

await ChatRoomHost.RunAsync(new IPEndPoint(IPAddress.Loopback, port), Console.Out, cancellationToken: stop.Token);
