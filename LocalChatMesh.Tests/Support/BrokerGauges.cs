using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace LocalChatMesh.Tests.Support;

/// <summary>
/// Reads one broker's instruments through a <see cref="MeterListener"/>: its observable gauges
/// (open connections, queued bytes) as they are now, and its counters as totals since this
/// reader was created. This is the broker's own accounting, which tests check returns to its
/// baseline after faults (process memory would be too noisy to assert).
/// </summary>
internal sealed class BrokerGauges : IDisposable
{
    private readonly MeterListener _listener = new();

    // No lock around recording: the queued-bytes callback takes the hub's lock, and the hub
    // reports counter measurements while it holds that lock.
    private readonly ConcurrentDictionary<string, long> _gauges = new();
    private readonly ConcurrentDictionary<string, long> _totals = new();

    public BrokerGauges(ChatBroker broker)
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (ReferenceEquals(instrument.Meter, broker.Meter))
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, _, _) =>
        {
            if (instrument.IsObservable)
            {
                _gauges[instrument.Name] = value;
            }
            else
            {
                _totals.AddOrUpdate(instrument.Name, value, (_, total) => total + value);
            }
        });
        _listener.Start();
    }

    /// <summary>Open connections, joined or not (<c>chatmesh.connections</c>).</summary>
    public long Connections => Observe("chatmesh.connections");

    /// <summary>Bytes queued for clients and not yet written (<c>chatmesh.queue.bytes</c>).</summary>
    public long QueuedBytes => Observe("chatmesh.queue.bytes");

    /// <summary>Rooms that exist, with members or history (<c>chatmesh.rooms</c>).</summary>
    public long Rooms => Observe("chatmesh.rooms");

    /// <summary>Estimated memory held by the rooms' history (<c>chatmesh.history.bytes</c>).</summary>
    public long HistoryBytes => Observe("chatmesh.history.bytes");

    /// <summary>A counter's total over all its tags, e.g. <c>chatmesh.deliveries.dropped</c>.</summary>
    public long Total(string counter) => _totals.GetValueOrDefault(counter);

    /// <summary>
    /// Waits until the broker holds exactly this many connections and nothing queued (and, when
    /// given, exactly this many rooms and this much history). Queued bytes are counted down just
    /// after a socket write completes, which a client can observe a moment before the broker
    /// does, and the gauges raise no event: so this polls, with the usual generous deadline.
    /// </summary>
    public async Task WaitForBaselineAsync(long connections, long? rooms = null, long? historyBytes = null)
    {
        using var timeout = new CancellationTokenSource(RawClient.Deadline);
        using var poll = new PeriodicTimer(TimeSpan.FromMilliseconds(20));
        while (Connections != connections || QueuedBytes != 0 || (rooms is { } r && Rooms != r) || (historyBytes is { } h && HistoryBytes != h))
        {
            try
            {
                await poll.WaitForNextTickAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException(
                    $"the broker's accounting did not return to {connections} connections, 0 bytes queued, {rooms?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "any"} rooms and {historyBytes?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "any"} bytes of history: "
                    + $"{Connections} connections, {QueuedBytes} bytes queued, {Rooms} rooms, {HistoryBytes} bytes of history");
            }
        }
    }

    public void Dispose() => _listener.Dispose();

    private long Observe(string gauge)
    {
        _listener.RecordObservableInstruments();
        return _gauges.TryGetValue(gauge, out var value) ? value : throw new InvalidOperationException($"{gauge} was not reported");
    }
}
