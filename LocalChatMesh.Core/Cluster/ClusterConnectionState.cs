namespace LocalChatMesh.Cluster;

/// <summary>Whether the broker can reach the NATS server right now.</summary>
public enum ClusterConnectionState
{
    /// <summary>Connected: appends are ordered and delivered.</summary>
    Connected,

    /// <summary>
    /// The NATS server cannot be reached; the engine keeps reconnecting. Nothing is appended meanwhile:
    /// a broker tells its clients <c>cluster unavailable; messages are not being delivered</c>.
    /// </summary>
    Disconnected,
}
