using LocalChatMesh.Protocol;

namespace LocalChatMesh;

/// <summary>The requests that wait for an answer from the broker.</summary>
internal enum RequestKind
{
    Join,
    Leave,
    ListRooms,
    Who,
}

/// <summary>
/// A request that waits for the broker's answer. The protocol has no request ids, but the broker
/// handles a connection's lines in order and answers each request in the same step, so with one
/// request outstanding at a time its answer is the first message that can only be that answer: the
/// matching <c>joined</c>/<c>left</c> for its room, the <c>room_list</c>, the <c>roster</c> of its
/// room, or an <c>error</c> whose text is one this kind of request can be refused with.
/// </summary>
internal sealed class PendingRequest(RequestKind kind, string? room)
{
    private readonly TaskCompletionSource<ServerMessage> _answer = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public RequestKind Kind { get; } = kind;

    /// <summary>The room the request names; null for <see cref="RequestKind.ListRooms"/>.</summary>
    public string? Room { get; } = room;

    /// <summary>The wire type of the request, as an <c>unknown message type</c> error names it.</summary>
    public string WireType => Kind switch
    {
        RequestKind.Join => "join",
        RequestKind.Leave => "leave",
        RequestKind.ListRooms => "rooms",
        _ => "who",
    };

    /// <summary>The answer, or the refusal as an <see cref="ErrorMessage"/>.</summary>
    public Task<ServerMessage> Answer => _answer.Task;

    /// <summary>For a join after a reconnect: the room joined again (its state is updated instead of a new room made).</summary>
    public ChatRoom? Rejoining { get; init; }

    /// <summary>The room a successful join created, set on the reader loop before <see cref="Answer"/> completes.</summary>
    public ChatRoom? JoinedRoom { get; set; }

    /// <summary>True when <paramref name="message"/> answers or refuses this request.</summary>
    public bool Matches(ServerMessage message) => message switch
    {
        JoinedMessage joined => Kind == RequestKind.Join && SameRoom(joined.Room),
        LeftMessage left => Kind == RequestKind.Leave && SameRoom(left.Room),
        RoomListMessage => Kind == RequestKind.ListRooms,
        RosterMessage { Room: { } rosterRoom } => Kind == RequestKind.Who && SameRoom(rosterRoom),
        ErrorMessage error => IsRefusal(error.Message),
        _ => false,
    };

    /// <summary>True when an error with this text can only be the broker refusing this request.</summary>
    public bool IsRefusal(string text)
    {
        if (string.Equals(text, $"unknown message type '{WireType}'", StringComparison.Ordinal))
        {
            return true;
        }

        if (Kind == RequestKind.ListRooms)
        {
            return false;
        }

        if (text is "invalid room name" or "missing field 'room'" || text.StartsWith("field 'room' ", StringComparison.Ordinal))
        {
            return true;
        }

        return Kind switch
        {
            RequestKind.Join => text is "too many rooms" or "too many rooms on this broker"
                || NamesRoom(text, "already in room '")
                || text.StartsWith("field 'history' ", StringComparison.Ordinal)
                || text.StartsWith("field 'after' ", StringComparison.Ordinal)
                || text.StartsWith("field 'epoch' ", StringComparison.Ordinal),
            _ => NamesRoom(text, "not in room '"),
        };
    }

    public void Complete(ServerMessage message) => _answer.TrySetResult(message);

    public void Fail(Exception exception) => _answer.TrySetException(exception);

    // Room names compare case-insensitively, and the broker may quote either spelling.
    private bool SameRoom(string name) => string.Equals(name, Room, StringComparison.OrdinalIgnoreCase);

    private bool NamesRoom(string text, string prefix) =>
        text.Length > prefix.Length + 1
        && text.StartsWith(prefix, StringComparison.Ordinal)
        && text.EndsWith('\'')
        && SameRoom(text[prefix.Length..^1]);
}
