using System.Net;
using LocalChatMesh.Samples.HostedBroker;

// dotnet run --project samples/HostedBroker -- [port]
var port = args.Length > 0 ? int.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture) : 5000;
using var stop = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    stop.Cancel();
};

await ChatRoomHost.RunAsync(new IPEndPoint(IPAddress.Loopback, port), Console.Out, cancellationToken: stop.Token);
