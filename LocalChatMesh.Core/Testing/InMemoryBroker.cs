using System.Reactive.Concurrency;
using System.Reactive.Subjects;
using LocalChatMesh.Hub;

namespace LocalChatMesh.Testing;

/// <summary>
/// The broker's rules without sockets: connections are in-memory and every time rule runs on the
/// scheduler you give, so a <c>TestScheduler</c> can play an hour of chat in a millisecond.
/// Everything happens synchronously on the caller's thread; it is meant for tests, not for
/// sharing between threads while virtual time advances.
/// </summary>
/// <example>
/// <code>
/// var time = new TestScheduler();
/// using var broker = new InMemoryBroker(BrokerOptions.Default with { HandshakeTimeout = TimeSpan.FromSeconds(5) }, time);
/// var silent = broker.Connect();
/// time.AdvanceBy(TimeSpan.FromSeconds(5).Ticks);
/// // silent.Received holds the error, and silent.IsClosed is true
/// </code>
/// </example>
public sealed class InMemoryBroker : IDisposable
{
    private readonly Subject<IHubConnection> _connections = new();
    private readonly ChatHub _hub;
    private long _lastId;

    /// <summary>
    /// Creates a broker with <paramref name="options"/>' limits (its address is not used). A
    /// <see cref="BrokerOptions.Store"/> is opened at once and its history restored.
    /// </summary>
    /// <param name="options">The limits; <see cref="BrokerOptions.Default"/> when null.</param>
    /// <param name="scheduler">The clock for every time rule, typically a TestScheduler.</param>
    public InMemoryBroker(BrokerOptions? options, IScheduler scheduler)
    {
        ArgumentNullException.ThrowIfNull(scheduler);
        Options = (options ?? BrokerOptions.Default) with { Scheduler = scheduler };
        Options.Validate();
        _hub = new ChatHub(Options);
        if (Options.Store is { } store)
        {
            // A store for tests (such as InMemoryChatStore) opens synchronously.
            _hub.Restore(store.OpenAsync(new Storage.ChatStoreRetention(Math.Max(1, Options.HistoryMessagesPerRoom), Options.HistoryMaxAge)).GetAwaiter().GetResult());
        }

        _hub.Run(_connections);
    }

    /// <summary>The options in force.</summary>
    public BrokerOptions Options { get; }

    /// <summary>What happens in the broker, as <see cref="ChatBroker.Events"/> reports it.</summary>
    public IObservable<BrokerEvent> Events => _hub.Events;

    /// <summary>The nicknames online, in join order.</summary>
    public IReadOnlyList<string> Participants => _hub.Participants;

    /// <summary>The rooms that exist (somebody in them, or history), by name, with how many are in each.</summary>
    public IReadOnlyList<Protocol.RoomSummary> Rooms => _hub.Rooms;

    internal ChatHub Hub => _hub;

    /// <summary>Opens a connection, as a TCP client connecting would. Nothing is sent yet.</summary>
    public InMemoryConnection Connect()
    {
        var connection = new InMemoryConnection(++_lastId);
        _connections.OnNext(connection);
        return connection;
    }

    /// <summary>Shuts down as <see cref="ChatBroker.StopAsync"/> does, without the waiting.</summary>
    public void Shutdown() => _hub.Shutdown();

    /// <inheritdoc />
    public void Dispose()
    {
        _hub.Dispose();
        _connections.Dispose();
    }
}
