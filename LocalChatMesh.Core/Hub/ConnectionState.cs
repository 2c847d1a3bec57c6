using LocalChatMesh.Diagnostics;
using LocalChatMesh.Hub.Rooms;
using LocalChatMesh.Protocol;

namespace LocalChatMesh.Hub;

internal enum ConnectionPhase
{
    AwaitingHello,
    Joined,
    Closed,
}

/// <summary>
/// What the hub knows of one connection: its handshake, its grants, its rooms and its flow-control
/// state. Touched only under the hub's lock (the rooms' Subjects call <see cref="Deliver"/> under it too).
/// </summary>
internal sealed class ConnectionState(IHubConnection connection, long hardLimitBytes, BrokerMetrics metrics) : IObserver<byte[]>
{
    public IHubConnection Connection { get; } = connection;

    public long Id => Connection.Id;

    public IOutboundSink Outbound => Connection.Outbound;

    public ConnectionPhase Phase { get; set; } = ConnectionPhase.AwaitingHello;

    public string? Nickname { get; set; }

    public string? NicknameKey { get; set; }

    public IDisposable? HandshakeTimer { get; set; }

    /// <summary>True when the hello carried <c>capabilities</c>, even an empty array.</summary>
    public bool IsVersion2 { get; set; }

    public Grants Grants { get; set; }

    /// <summary>The variant of live room events this connection receives.</summary>
    public WireForm Form { get; set; }

    /// <summary>The secret that takes this nickname over (version 2 clients only).</summary>
    public string? Session { get; set; }

    /// <summary>The rooms it is in, by room key, in join order.</summary>
    public OrderedDictionary<string, Membership> Rooms { get; } = new(RoomNames.Comparer);

    /// <summary>Memberships reading their room's log with a cursor (replaying history or behind); the tick pumps only these.</summary>
    public int CatchingUp { get; set; }

    public RateLimiter? RateLimiter { get; set; }

    /// <summary>In a cluster: the nickname reservation this connection holds.</summary>
    public Cluster.NicknameReservation? Reservation { get; set; }

    /// <summary>In a cluster: this connection as a room member, unique in the cluster (<c>{broker}/{connection}</c>).</summary>
    public string MemberId { get; set; } = "";

    /// <summary>
    /// In a cluster: a request of this connection is waiting for the cluster (a hello's reservation,
    /// a direct message); its later messages wait in <see cref="Deferred"/> so they keep their order.
    /// </summary>
    public bool Busy { get; set; }

    public Queue<ClientMessage>? Deferred { get; set; }

    /// <summary>True once a rate-limit notice was sent; reset when a message is accepted again.</summary>
    public bool RateNoticeSent { get; set; }

    /// <summary>While true, broadcasts for this client are dropped and counted in <see cref="Dropped"/>.</summary>
    public bool Lagging { get; set; }

    public long Dropped { get; set; }

    /// <summary>True once the current lag was logged and published.</summary>
    public bool LagReported { get; set; }

    /// <summary>Since when the backlog has been above the soft limit, if it is.</summary>
    public DateTimeOffset? AboveSoftLimitSince { get; set; }

    public long LastFlushedBytes { get; set; }

    public DateTimeOffset LastProgressAt { get; set; }

    /// <summary>
    /// Sends a frame to this client alone, within the hard limit like a broadcast: a client that
    /// sends bad lines and never reads the errors must not grow its queue without bound.
    /// </summary>
    public void Send(ServerMessage message)
    {
        var frame = MessageEncoder.Encode(message);
        if (PassesHardLimit(frame))
        {
            Drop();
            return;
        }

        metrics.MessagesOut.Add(1);
        Outbound.Enqueue(frame);
    }

    public bool Has(Grants grant) => (Grants & grant) == grant;

    /// <summary>
    /// A shared frame (room event, direct message): queued unless the client is lagging or its
    /// queue is at the hard limit, in which case it is dropped and counted. True when queued.
    /// </summary>
    public bool Deliver(byte[] frame)
    {
        if (Lagging || PassesHardLimit(frame))
        {
            Drop();
            return false;
        }

        Outbound.Enqueue(frame);
        return true;
    }

    /// <summary>A room's live frame, from its Subject: delivered like any shared frame.</summary>
    public void OnNext(byte[] value) => Deliver(value);

    public void OnError(Exception error)
    {
    }

    public void OnCompleted()
    {
    }

    /// <summary>Room events the log let go before this client read them count as missed, like drops.</summary>
    public void CountMissed(long entries)
    {
        Dropped += entries;
        metrics.CountDrops(entries);
    }

    // The hard limit is a memory bound, not a grace: from here the client lags.
    private bool PassesHardLimit(byte[] frame)
    {
        if (Outbound.BufferedBytes + frame.Length <= hardLimitBytes)
        {
            return false;
        }

        Lagging = true;
        Outbound.HoldsBackSenders = false;
        return true;
    }

    private void Drop()
    {
        Dropped++;
        metrics.CountDrops(1);
    }
}
