using System.Net;
using System.Reactive.Concurrency;
using LocalChatMesh.Protocol;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace LocalChatMesh;

/// <summary>
/// The broker's settings: where it listens and the limits it enforces. Immutable; checked once by
/// <see cref="ChatBroker.StartAsync"/>, which refuses a bad value with a message naming it.
/// </summary>
public sealed record BrokerOptions
{
    /// <summary>The defaults: loopback port 5000 and the limits of the protocol.</summary>
    public static BrokerOptions Default { get; } = new();

    /// <summary>Where to listen. Port 0 picks a free port; <see cref="ChatBroker.LocalEndPoint"/> tells which.</summary>
    public IPEndPoint EndPoint { get; init; } = ChatEndPoint.Default;

    /// <summary>The most connections at once, handshake or not; one more is told <c>server is full</c>.</summary>
    public int MaxClients { get; init; } = 4096;

    /// <summary>The longest line accepted from a client, in bytes; a longer one closes the connection.</summary>
    public int MaxLineLength { get; init; } = LineFramer.DefaultMaxLineLength;

    /// <summary>How long a connection may take to send an acceptable <c>hello</c>.</summary>
    public TimeSpan HandshakeTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// A client's outbound backlog in bytes above which the broker stops reading from senders
    /// until that client catches up (TCP backpressure).
    /// </summary>
    public long OutboundSoftLimitBytes { get; init; } = 256 * 1024;

    /// <summary>
    /// A client's outbound backlog in bytes beyond which nothing more is queued for it: further
    /// messages for it are dropped and counted. Memory per client never exceeds this by more than a message.
    /// </summary>
    public long OutboundHardLimitBytes { get; init; } = 1024 * 1024;

    /// <summary>
    /// How long a client may hold the senders back (backlog above the soft limit) before it is
    /// treated as lagging: its messages are dropped and counted, and the senders resume.
    /// </summary>
    public TimeSpan LagGrace { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>How long a client with a backlog may make no progress at all before it is disconnected.</summary>
    public TimeSpan DisconnectGrace { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How often the slow-consumer rules are checked.</summary>
    public TimeSpan SlowConsumerCheckInterval { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>The most chat messages per second one client may send, or null for no limit.</summary>
    public double? MaxMessagesPerSecond { get; init; }

    /// <summary>How long a shutdown waits for queued messages to reach the clients before closing.</summary>
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Listening on an address other than loopback exposes the chat beyond this machine, so it
    /// must be asked for explicitly; the broker then logs a warning.
    /// </summary>
    public bool AllowNonLoopback { get; init; }

    /// <summary>
    /// A shared secret, or null for none. When set, a <c>hello</c> must carry it in a <c>token</c>
    /// field; it is compared in constant time and a mismatch is refused with a generic error.
    /// </summary>
    public string? Token { get; init; }

    /// <summary>
    /// TLS for every accepted connection (a certificate and its key, for example from
    /// <see cref="BrokerTlsOptions.LoadPemFiles"/>), or null (the default) for plain TCP. Beyond
    /// loopback, use it together with <see cref="Token"/>: TLS hides the chat and the token on the
    /// wire, the token keeps strangers out.
    /// </summary>
    public BrokerTlsOptions? Tls { get; init; }

    /// <summary>The version 2 extensions the broker offers (<see cref="ChatCapabilities"/>); all of them by default.</summary>
    public IReadOnlyList<string> Capabilities { get; init; } = ChatCapabilities.All;

    /// <summary>The most rooms one client may be in at once; one more is refused with <c>too many rooms</c>.</summary>
    public int MaxRoomsPerClient { get; init; } = 32;

    /// <summary>The most rooms that may exist at once (with members or history); a new one beyond it is refused.</summary>
    public int MaxRooms { get; init; } = 10_000;

    /// <summary>The longest room name accepted, from 1 to 32 characters (the protocol's maximum).</summary>
    public int MaxRoomNameLength { get; init; } = 32;

    /// <summary>How many chats each room keeps as history, for <c>join</c> with <c>history</c> or <c>after</c>.</summary>
    public int HistoryMessagesPerRoom { get; init; } = 1000;

    /// <summary>The most memory (estimated) one room's history may hold; older chats go first.</summary>
    public long HistoryBytesPerRoom { get; init; } = 4L * 1024 * 1024;

    /// <summary>The most memory (estimated) all rooms' history together may hold; the oldest chats anywhere go first.</summary>
    public long HistoryBytes { get; init; } = 128L * 1024 * 1024;

    /// <summary>How long a chat stays in history.</summary>
    public TimeSpan HistoryMaxAge { get; init; } = TimeSpan.FromDays(7);

    /// <summary>
    /// Where history is kept so that it survives a restart (for example a SQLite store from
    /// LocalChatMesh.Storage.Sqlite), or null to keep it in memory only, with a new epoch at each
    /// start. The broker opens it at start, commits every chat to it before anybody receives the
    /// chat, and disposes of it when it stops. One store belongs to one broker.
    /// </summary>
    public Storage.IChatStore? Store { get; init; }

    /// <summary>
    /// The cluster this broker is one of (for example a NatsClusterEngine from
    /// LocalChatMesh.Cluster.Nats), or null for a broker on its own. Brokers of one cluster are one
    /// chat: rooms, nicknames, direct messages, history and resume are the cluster's, and history
    /// lives in the cluster (so <see cref="Store"/> must be null). Every broker of a cluster should
    /// have the same history limits. The broker does not dispose it; dispose it after the broker stopped.
    /// </summary>
    public Cluster.IChatCluster? Cluster { get; init; }

    /// <summary>Where log messages go. Nowhere by default.</summary>
    public ILoggerFactory LoggerFactory { get; init; } = NullLoggerFactory.Instance;

    /// <summary>
    /// The scheduler that every time rule runs on (handshake timeout, lag and disconnect grace,
    /// rate limit). Replace it with a virtual-time scheduler in tests.
    /// </summary>
    internal IScheduler Scheduler { get; init; } = DefaultScheduler.Instance;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first setting that is out of range.</summary>
    public void Validate()
    {
        ArgumentNullException.ThrowIfNull(EndPoint, nameof(EndPoint));
        ArgumentNullException.ThrowIfNull(LoggerFactory, nameof(LoggerFactory));
        if (!AllowNonLoopback && !IPAddress.IsLoopback(EndPoint.Address))
        {
            throw new ArgumentException(
                $"{EndPoint.Address} is not a loopback address: the chat would be reachable from other machines. Set {nameof(AllowNonLoopback)} to listen there.",
                nameof(EndPoint));
        }

        Require(Token is null || Token.Length > 0, nameof(Token), Token, "null or non-empty");
        Require(MaxClients >= 1, nameof(MaxClients), MaxClients, "at least 1");
        Require(MaxLineLength >= 64, nameof(MaxLineLength), MaxLineLength, "at least 64 bytes");
        Require(HandshakeTimeout > TimeSpan.Zero, nameof(HandshakeTimeout), HandshakeTimeout, "positive");
        Require(OutboundSoftLimitBytes >= MaxLineLength, nameof(OutboundSoftLimitBytes), OutboundSoftLimitBytes, $"at least {nameof(MaxLineLength)}");
        Require(OutboundHardLimitBytes > OutboundSoftLimitBytes, nameof(OutboundHardLimitBytes), OutboundHardLimitBytes, $"greater than {nameof(OutboundSoftLimitBytes)}");
        Require(LagGrace > TimeSpan.Zero, nameof(LagGrace), LagGrace, "positive");
        Require(DisconnectGrace > LagGrace, nameof(DisconnectGrace), DisconnectGrace, $"greater than {nameof(LagGrace)}");
        Require(SlowConsumerCheckInterval > TimeSpan.Zero && SlowConsumerCheckInterval <= LagGrace, nameof(SlowConsumerCheckInterval), SlowConsumerCheckInterval, $"positive and at most {nameof(LagGrace)}");
        Require(MaxMessagesPerSecond is null or > 0, nameof(MaxMessagesPerSecond), MaxMessagesPerSecond, "positive, or null for no limit");
        Require(DrainTimeout >= TimeSpan.Zero, nameof(DrainTimeout), DrainTimeout, "zero or positive");
        ArgumentNullException.ThrowIfNull(Capabilities, nameof(Capabilities));
        Require(Capabilities.All(ChatCapabilities.All.Contains), nameof(Capabilities), string.Join(",", Capabilities), $"a subset of {string.Join(", ", ChatCapabilities.All)}");
        Require(MaxRoomsPerClient >= 1, nameof(MaxRoomsPerClient), MaxRoomsPerClient, "at least 1");
        Require(MaxRooms >= 1, nameof(MaxRooms), MaxRooms, "at least 1");
        Require(MaxRoomNameLength is >= 1 and <= 32, nameof(MaxRoomNameLength), MaxRoomNameLength, "from 1 to 32");
        Require(HistoryMessagesPerRoom >= 0, nameof(HistoryMessagesPerRoom), HistoryMessagesPerRoom, "zero or positive");
        Require(HistoryBytesPerRoom >= 0, nameof(HistoryBytesPerRoom), HistoryBytesPerRoom, "zero or positive");
        Require(HistoryBytes >= HistoryBytesPerRoom, nameof(HistoryBytes), HistoryBytes, $"at least {nameof(HistoryBytesPerRoom)}");
        Require(HistoryMaxAge > TimeSpan.Zero, nameof(HistoryMaxAge), HistoryMaxAge, "positive");
        if (Cluster is not null && Store is not null)
        {
            throw new ArgumentException($"{nameof(Store)} and {nameof(Cluster)} cannot both be set: in a cluster, history lives in the cluster.", nameof(Store));
        }
    }

    private static void Require(bool condition, string name, object? value, string expectation)
    {
        if (!condition)
        {
            throw new ArgumentOutOfRangeException(name, value, $"{name} must be {expectation}; it is {value}.");
        }
    }
}
