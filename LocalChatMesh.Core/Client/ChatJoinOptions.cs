namespace LocalChatMesh;

/// <summary>
/// How to join a room with <see cref="ChatClient.JoinAsync"/>: plainly (<see cref="Default"/>),
/// replaying its latest chats (<see cref="History"/>), or resuming after the last chat seen
/// (<see cref="After"/> and <see cref="Epoch"/>). History and resume need the <c>history</c> capability.
/// </summary>
public sealed record ChatJoinOptions
{
    /// <summary>A plain join: no history, no resume.</summary>
    public static ChatJoinOptions Default { get; } = new();

    /// <summary>
    /// How many of the room's latest chats to replay right after <c>joined</c>, oldest first (marked
    /// <see cref="Protocol.ChatBroadcastMessage.History"/>); with <see cref="After"/>, how many to replay
    /// instead when the broker cannot resume. Null (the default) asks for none.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is negative.</exception>
    public int? History
    {
        get;
        init => field = value is null or >= 0
            ? value
            : throw new ArgumentOutOfRangeException(nameof(History), value, "History must be 0 or more messages.");
    }

    /// <summary>
    /// Resume: replay every chat with an id above this one, when <see cref="Epoch"/> is still the
    /// room's epoch (<see cref="Protocol.JoinedMessage.Recovered"/> then says whether all were kept).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is negative.</exception>
    public long? After
    {
        get;
        init => field = value is null or >= 0
            ? value
            : throw new ArgumentOutOfRangeException(nameof(After), value, "After must be a message id, 0 or more.");
    }

    /// <summary>The room's epoch when <see cref="After"/> was seen (<see cref="Protocol.JoinedMessage.Epoch"/>).</summary>
    public string? Epoch { get; init; }
}
