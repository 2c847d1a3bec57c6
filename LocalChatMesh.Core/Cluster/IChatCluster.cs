namespace LocalChatMesh.Cluster;

/// <summary>
/// The seam between a broker and the engine that makes several brokers one chat
/// (<see cref="BrokerOptions.Cluster"/>; LocalChatMesh.Cluster.Nats implements it over NATS).
/// The broker only needs "append, read from a position, tell me when it advances" for the rooms,
/// race-free nickname reservations, and a way to hand a direct message to another broker:
/// <list type="bullet">
/// <item>every room event (chat or presence) is appended, and every broker applies what
/// <see cref="ReadAllAsync"/> yields, its own appends included, so every client on every broker
/// sees one order per room and a chat's id comes from its <see cref="ClusterRoomEvent.Sequence"/>;</item>
/// <item>a nickname is held through a reservation that one broker at a time can hold;</item>
/// <item>a direct message goes to the broker holding the recipient's reservation.</item>
/// </list>
/// Implementations are thread-safe. The broker does not dispose it: whoever made it does, after the broker stopped.
/// </summary>
public interface IChatCluster
{
    /// <summary>This broker's id in the cluster, new for every start.</summary>
    string BrokerId { get; }

    /// <summary>The history epoch: it changes only when the cluster's history is created anew.</summary>
    string Epoch { get; }

    /// <summary>
    /// How long the cluster keeps a room event, presence included (<see cref="Timeout.InfiniteTimeSpan"/>:
    /// until a room's count limit drops it). The broker appends its members' presence again before it
    /// ages out, so that a broker started later still finds everybody who joined long ago.
    /// </summary>
    TimeSpan EventMaxAge => Timeout.InfiniteTimeSpan;

    /// <summary>Whether the cluster can be reached now.</summary>
    bool IsConnected { get; }

    /// <summary>The connection's state: the current one on subscription, then every change.</summary>
    IObservable<ClusterConnectionState> ConnectionStates { get; }

    /// <summary>Reservations this broker held and lost (taken over by a session elsewhere, or reaped while it was cut off).</summary>
    IObservable<NicknameReservation> ReservationsLost { get; }

    /// <summary>Appends a room event; returns its sequence once the cluster stored it.</summary>
    /// <param name="roomKey">The room's key (room names compare ignoring case; brokers pass the upper-case form).</param>
    /// <param name="kind">Chat (history) or presence.</param>
    /// <param name="memberKey">
    /// For presence, whose: the cluster keeps at least the latest presence of each member of each room
    /// for as long as it keeps history, so a broker that starts later rebuilds every room's roster.
    /// </param>
    /// <param name="payload">The event as the brokers encode it.</param>
    /// <param name="deduplicationId">Appends with the same id are stored once (null: a unique id).</param>
    /// <param name="cancellationToken">Stops waiting; the event may still be appended.</param>
    /// <exception cref="ClusterUnavailableException">Not acknowledged in time.</exception>
    Task<long> AppendAsync(string roomKey, RoomEventKind kind, string? memberKey, ReadOnlyMemory<byte> payload, string? deduplicationId, CancellationToken cancellationToken);

    /// <summary>The sequence of the newest event stored now (0 for none): a starting broker reads up to it before it serves.</summary>
    /// <exception cref="ClusterUnavailableException">The cluster cannot be reached.</exception>
    Task<long> GetLastSequenceAsync(CancellationToken cancellationToken);

    /// <summary>Every room's events after a sequence, in order, then live; across an outage it resumes without a gap or a duplicate.</summary>
    IAsyncEnumerable<ClusterRoomEvent> ReadAllAsync(long afterSequence, CancellationToken cancellationToken);

    /// <summary>Reserves a nickname for this broker; null when it is held anywhere in the cluster.</summary>
    /// <exception cref="ClusterUnavailableException">The cluster cannot be reached.</exception>
    Task<NicknameReservation?> TryReserveNicknameAsync(string nicknameKey, string nickname, string sessionSecret, CancellationToken cancellationToken);

    /// <summary>Takes over a nickname held elsewhere with its session secret; null when the secret does not match or nobody holds it.</summary>
    /// <exception cref="ClusterUnavailableException">The cluster cannot be reached.</exception>
    Task<NicknameTakeover?> TryTakeOverNicknameAsync(string nicknameKey, string nickname, string sessionSecret, CancellationToken cancellationToken);

    /// <summary>Releases a reservation (only the revision held); false when it was no longer this broker's.</summary>
    Task<bool> ReleaseNicknameAsync(NicknameReservation reservation, CancellationToken cancellationToken);

    /// <summary>Who holds a nickname, and on which broker; null for nobody.</summary>
    /// <exception cref="ClusterUnavailableException">The cluster cannot be reached.</exception>
    Task<NicknameReservation?> FindNicknameAsync(string nicknameKey, CancellationToken cancellationToken);

    /// <summary>
    /// Starts freeing dead brokers' reservations; <paramref name="announceLeft"/> runs first for each one,
    /// so the broker can append its <c>user_left</c> events (deduplicated by <see cref="NicknameReservation.ReleaseId"/>).
    /// </summary>
    void StartReaping(Func<NicknameReservation, CancellationToken, Task> announceLeft);

    /// <summary>Hands a direct message to the broker that holds its recipient.</summary>
    Task<DirectDelivery> SendDirectAsync(string brokerId, string recipientKey, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken);

    /// <summary>Answers the direct messages other brokers send to this broker's clients.</summary>
    void ServeDirectMessages(Func<IncomingDirect, DirectDelivery> deliver);

    /// <summary>A new id for a direct message, unique and increasing in the cluster.</summary>
    /// <exception cref="ClusterUnavailableException">The cluster cannot be reached.</exception>
    Task<long> NextDirectIdAsync(CancellationToken cancellationToken);
}
