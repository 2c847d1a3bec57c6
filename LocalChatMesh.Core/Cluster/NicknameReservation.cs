namespace LocalChatMesh.Cluster;

/// <summary>
/// A nickname held in the cluster: which broker holds it, for which session, at which revision of
/// the reservation bucket. A release or takeover succeeds only against the revision it read, so two
/// brokers can never both believe they hold a nickname.
/// </summary>
/// <param name="NicknameKey">The nickname's key (as the hub compares nicknames).</param>
/// <param name="Nickname">The nickname as the client spelled it.</param>
/// <param name="BrokerId">The <see cref="IChatCluster.BrokerId"/> of the broker that holds it.</param>
/// <param name="Revision">The bucket revision of this reservation.</param>
public sealed record NicknameReservation(string NicknameKey, string Nickname, string BrokerId, ulong Revision)
{
    /// <summary>
    /// SHA-256 of the session secret, hex: lets another broker check a takeover without the secret
    /// itself in the cluster. Filled by the engine; a broker never needs it.
    /// </summary>
    public string SecretHash { get; init; } = "";

    /// <summary>
    /// An id naming this reservation's end: append the <c>user_left</c> of a reaped reservation with
    /// <c>{ReleaseId}:{roomKey}</c> as its deduplication id, and JetStream keeps one copy however many
    /// brokers append it.
    /// </summary>
    public string ReleaseId => $"left:{NicknameKey}:{Revision}";
}

/// <summary>A nickname taken over by its session secret: the reservation now held, and the one it replaced.</summary>
/// <param name="Reservation">The reservation this broker now holds.</param>
/// <param name="Replaced">The reservation it replaced (its broker closes that connection with <c>connection replaced</c>).</param>
public sealed record NicknameTakeover(NicknameReservation Reservation, NicknameReservation Replaced);

/// <summary>What became of a direct message handed to another broker.</summary>
public enum DirectDelivery
{
    /// <summary>The recipient's broker queued it for the recipient.</summary>
    Delivered,

    /// <summary>Nobody by that nickname is on that broker (any more).</summary>
    NoSuchUser,

    /// <summary>The recipient cannot receive direct messages (not granted <c>direct</c>).</summary>
    NotAccepted,

    /// <summary>No broker answered in time (it died, or NATS is unreachable).</summary>
    Unreachable,
}

/// <summary>A direct message that another broker sent to one of this broker's clients.</summary>
/// <param name="RecipientKey">The recipient's nickname key.</param>
/// <param name="Payload">What the sending broker sent, byte for byte.</param>
public sealed record IncomingDirect(string RecipientKey, ReadOnlyMemory<byte> Payload);
