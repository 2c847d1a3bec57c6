using LocalChatMesh.Diagnostics;
using LocalChatMesh.Protocol;

namespace LocalChatMesh.Hub;

internal enum ConnectionPhase
{
    AwaitingHello,
    Joined,
    Closed,
}

/// <summary>
/// What the hub knows of one connection. Touched only under the hub's lock, except
/// <see cref="OnNext"/>, which the broadcast Subject calls, also under that lock.
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

    public IDisposable? BroadcastSubscription { get; set; }

    public RateLimiter? RateLimiter { get; set; }

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

    /// <summary>A broadcast frame: queued unless the client is lagging or its queue is at the hard limit.</summary>
    public void OnNext(byte[] value)
    {
        if (Lagging || PassesHardLimit(value))
        {
            Drop();
            return;
        }

        Outbound.Enqueue(value);
    }

    public void OnError(Exception error)
    {
    }

    public void OnCompleted()
    {
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
        metrics.CountDrop();
    }
}
