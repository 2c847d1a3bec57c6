using System.Net;
using System.Reactive.Linq;

namespace LocalChatMesh.Samples.HostedBroker;

/// <summary>
/// Hosts a broker inside an app: start it, watch its events with Rx, stop it gracefully.
/// Here the app keeps a transcript of the room and prints it.
/// </summary>
public static class ChatRoomHost
{
    /// <summary>Runs a broker on <paramref name="endPoint"/> until <paramref name="cancellationToken"/> fires.</summary>
    /// <param name="endPoint">Where to listen; port 0 picks a free port.</param>
    /// <param name="output">Where the transcript goes.</param>
    /// <param name="started">Told the real address once the broker listens.</param>
    /// <param name="cancellationToken">Stops the broker gracefully.</param>
    public static async Task RunAsync(IPEndPoint endPoint, TextWriter output, Action<IPEndPoint>? started = null, CancellationToken cancellationToken = default)
    {
        await using var broker = await ChatBroker.StartAsync(BrokerOptions.Default with { EndPoint = endPoint }, cancellationToken);

        // Events arrive on the broker's serialized step: keep observers short.
        using var transcript = broker.Events
            .Select(Describe)
            .Where(line => line is not null)
            .Subscribe(line => output.WriteLine(line));

        output.WriteLine($"room open on {broker.LocalEndPoint}");
        started?.Invoke(broker.LocalEndPoint);
        await Task.Delay(Timeout.Infinite, cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        await broker.StopAsync(CancellationToken.None);
        output.WriteLine("room closed");
    }

    private static string? Describe(BrokerEvent brokerEvent) => brokerEvent switch
    {
        ClientJoinedEvent joined => $"{joined.Nickname} joined",
        ChatEvent chat => $"{chat.Nickname}: {chat.Text}",
        ClientDisconnectedEvent { Nickname: { } nickname } left => $"{nickname} left ({left.Reason})",
        _ => null,
    };
}
