using System.Diagnostics.Metrics;

namespace LocalChatMesh.Diagnostics;

/// <summary>
/// The broker's instruments, on a Meter named <c>LocalChatMesh</c> so that
/// <c>dotnet-counters monitor --counters LocalChatMesh</c> or an OpenTelemetry exporter sees them
/// with no extra code. Each broker has its own Meter instance; hot-path counts are added once per
/// broadcast or per socket write, not per delivery.
/// </summary>
internal sealed class BrokerMetrics : IDisposable
{
    public const string MeterName = "LocalChatMesh";

    public BrokerMetrics(Func<long> connections, Func<long> queuedBytes, Func<long> rooms, Func<long> historyBytes)
    {
        Meter = new Meter(MeterName, typeof(BrokerMetrics).Assembly.GetName().Version?.ToString());
        Meter.CreateObservableUpDownCounter("chatmesh.connections", connections, "{connection}", "Open connections, joined or not");
        Meter.CreateObservableGauge("chatmesh.queue.bytes", queuedBytes, "By", "Bytes queued for clients and not yet written");
        Accepted = Meter.CreateCounter<long>("chatmesh.connections.accepted", "{connection}", "Connections accepted");
        Joined = Meter.CreateCounter<long>("chatmesh.handshakes.accepted", "{handshake}", "Handshakes accepted");
        Refused = Meter.CreateCounter<long>("chatmesh.handshakes.refused", "{handshake}", "Connections refused before joining, by reason");
        MessagesIn = Meter.CreateCounter<long>("chatmesh.messages.received", "{message}", "Lines received from clients");
        MessagesOut = Meter.CreateCounter<long>("chatmesh.messages.delivered", "{message}", "Messages queued for clients");
        BytesIn = Meter.CreateCounter<long>("chatmesh.bytes.received", "By", "Bytes received from clients");
        BytesOut = Meter.CreateCounter<long>("chatmesh.bytes.sent", "By", "Bytes written to clients");
        Dropped = Meter.CreateCounter<long>("chatmesh.deliveries.dropped", "{message}", "Messages dropped for lagging clients");
        LagWarnings = Meter.CreateCounter<long>("chatmesh.lag.warnings", "{warning}", "Behind-by notices sent to clients that caught up");
        Disconnects = Meter.CreateCounter<long>("chatmesh.disconnects", "{connection}", "Connections closed, by reason");
        Meter.CreateObservableUpDownCounter("chatmesh.rooms", rooms, "{room}", "Rooms that exist (somebody in them, or history)");
        Meter.CreateObservableGauge("chatmesh.history.bytes", historyBytes, "By", "Estimated memory held by the rooms' history");
        RoomJoins = Meter.CreateCounter<long>("chatmesh.room.joins", "{join}", "Joins of a room, lobby included");
        DirectMessages = Meter.CreateCounter<long>("chatmesh.messages.direct", "{message}", "Direct messages accepted");
    }

    public Meter Meter { get; }

    public Counter<long> Accepted { get; }

    public Counter<long> Joined { get; }

    public Counter<long> Refused { get; }

    public Counter<long> MessagesIn { get; }

    public Counter<long> MessagesOut { get; }

    public Counter<long> BytesIn { get; }

    public Counter<long> BytesOut { get; }

    public Counter<long> Dropped { get; }

    /// <summary>Deliveries dropped so far; read and written under the hub's lock only.</summary>
    public long DroppedSoFar { get; private set; }

    public Counter<long> LagWarnings { get; }

    public Counter<long> Disconnects { get; }

    public Counter<long> RoomJoins { get; }

    public Counter<long> DirectMessages { get; }

    /// <summary>
    /// Adds 0 to each counter that has no tags, so that a listener started now (the monitor's
    /// Prometheus exporter) shows them at 0 instead of not at all until they first move.
    /// </summary>
    public void AnnounceCounters()
    {
        foreach (var counter in new[] { Accepted, Joined, MessagesIn, MessagesOut, BytesIn, BytesOut, Dropped, LagWarnings, RoomJoins, DirectMessages })
        {
            counter.Add(0);
        }
    }

    public static KeyValuePair<string, object?> Reason(DisconnectReason reason) => new("reason", ReasonName(reason));

    /// <summary>Counts deliveries dropped for a lagging client (under the hub's lock).</summary>
    public void CountDrops(long count)
    {
        DroppedSoFar += count;
        Dropped.Add(count);
    }

    public void Dispose() => Meter.Dispose();

    private static string ReasonName(DisconnectReason reason) => reason switch
    {
        DisconnectReason.ClientClosed => "client_closed",
        DisconnectReason.TransportError => "transport_error",
        DisconnectReason.HandshakeRefused => "handshake_refused",
        DisconnectReason.AuthenticationFailed => "authentication_failed",
        DisconnectReason.HandshakeTimeout => "handshake_timeout",
        DisconnectReason.LineTooLong => "line_too_long",
        DisconnectReason.ServerFull => "server_full",
        DisconnectReason.SlowConsumer => "slow_consumer",
        DisconnectReason.Shutdown => "shutdown",
        DisconnectReason.Replaced => "replaced",
        _ => "other",
    };
}
