using System.Globalization;
using System.Runtime.CompilerServices;
using LocalChatMesh.Protocol;

namespace LocalChatMesh;

// Version 2: rooms, the requests that wait for an answer, and direct messages. Room state (name,
// epoch, highest id seen) lives in the ChatRoom objects, not here, so a reconnecting layer can
// rejoin them with after/epoch without touching the socket code.
public sealed partial class ChatClient
{
    private readonly SemaphoreSlim _requestLock = new(1, 1);
    private readonly Lock _roomsLock = new();
    private readonly Dictionary<string, ChatRoom> _rooms = new(StringComparer.OrdinalIgnoreCase);
    private volatile IReadOnlyCollection<ChatRoom> _roomList = Array.AsReadOnly(Array.Empty<ChatRoom>());
    private PendingRequest? _pending;

    /// <summary>The rooms this client is in (<see cref="JoinAsync"/>), in the order they were joined.</summary>
    public IReadOnlyCollection<ChatRoom> Rooms => _roomList;

    /// <summary>
    /// Direct messages (version 2, <c>direct</c>) received and sent by this client: the broker echoes
    /// each one sent to its sender. A view of <see cref="Messages"/>; never emits without <c>direct</c>.
    /// </summary>
    public IObservable<DirectDeliveryMessage> DirectMessages { get; }

    /// <summary>
    /// Joins a room (version 2, needs <c>rooms</c>) and completes on the broker's <c>joined</c>, with the
    /// room: its participants, and from then on its chats (history replayed with
    /// <see cref="ChatJoinOptions.History"/> included, kept for the room's first consumer).
    /// </summary>
    /// <remarks>
    /// <para>
    /// The protocol has no request ids. The broker handles a connection's lines in order and answers
    /// each request at once, so the client sends one request (join, leave, rooms, who) at a time
    /// (others wait their turn) and takes as its answer the first message that matches it: here
    /// <c>joined</c> for this room (names ignore case), or an <c>error</c> that only a join can get:
    /// <c>invalid room name</c>, <c>too many rooms</c> (or <c>too many rooms on this broker</c>),
    /// <c>already in room 'ROOM'</c>, a problem with
    /// a field of the join (<c>field 'room' …</c>, <c>missing field 'room'</c>), or
    /// <c>unknown message type 'join'</c>. Every other message, other errors included (rate limit,
    /// lag), goes on as usual; the answer itself is also published on <see cref="Messages"/>.
    /// </para>
    /// <para>
    /// A join abandoned by timeout or cancellation may still succeed at the broker: that late
    /// <c>joined</c> and the room's chats then appear only on <see cref="Messages"/>.
    /// </para>
    /// </remarks>
    /// <param name="room">The room's name: 1-32 ASCII letters, digits, <c>-</c>, <c>_</c>, <c>.</c> (the broker checks).</param>
    /// <param name="options">History or resume; null for a plain join.</param>
    /// <param name="cancellationToken">Stops waiting, with <see cref="OperationCanceledException"/>.</param>
    /// <exception cref="ChatCapabilityException">The broker did not grant <c>rooms</c> (or <c>history</c>, for history or resume).</exception>
    /// <exception cref="ChatRequestException">The broker refused (its text is the message), or did not answer within <see cref="ChatClientOptions.RequestTimeout"/>.</exception>
    /// <exception cref="ChatConnectionException">The connection ended before the answer.</exception>
    /// <exception cref="ObjectDisposedException">The client was disposed.</exception>
    public async Task<ChatRoom> JoinAsync(string room, ChatJoinOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(room);
        options ??= ChatJoinOptions.Default;
        RequireCapability(ChatCapabilities.Rooms);
        if (options.History is not null || options.After is not null || options.Epoch is not null)
        {
            RequireCapability(ChatCapabilities.History);
        }

        var join = new JoinMessage(room) { History = options.History, After = options.After, Epoch = options.Epoch };
        var request = await RequestAsync(join, new PendingRequest(RequestKind.Join, room), cancellationToken).ConfigureAwait(false);
        return request.JoinedRoom ?? throw Refused(request);
    }

    /// <summary>
    /// Asks the broker for every room that exists (version 2, needs <c>rooms</c>). The answer is the
    /// next <c>room_list</c>, or the error <c>unknown message type 'rooms'</c>; see
    /// <see cref="JoinAsync"/> for how answers are matched.
    /// </summary>
    /// <param name="cancellationToken">Stops waiting, with <see cref="OperationCanceledException"/>.</param>
    /// <exception cref="ChatCapabilityException">The broker did not grant <c>rooms</c>.</exception>
    /// <exception cref="ChatRequestException">The broker refused, or did not answer within <see cref="ChatClientOptions.RequestTimeout"/>.</exception>
    /// <exception cref="ChatConnectionException">The connection ended before the answer.</exception>
    /// <exception cref="ObjectDisposedException">The client was disposed.</exception>
    public async Task<IReadOnlyList<RoomSummary>> ListRoomsAsync(CancellationToken cancellationToken = default)
    {
        RequireCapability(ChatCapabilities.Rooms);
        var request = await RequestAsync(new ListRoomsMessage(), new PendingRequest(RequestKind.ListRooms, null), cancellationToken).ConfigureAwait(false);
        return request.Answer.Result is RoomListMessage list ? list.Rooms : throw Refused(request);
    }

    /// <summary>
    /// Asks who is in a room this client is in (version 2, needs <c>rooms</c>): everybody, this
    /// client included, in join order. The answer is the next <c>roster</c> for that room, or an error
    /// such as <c>not in room 'ROOM'</c> or <c>invalid room name</c>; see <see cref="JoinAsync"/> for
    /// how answers are matched.
    /// </summary>
    /// <param name="room">The room's name.</param>
    /// <param name="cancellationToken">Stops waiting, with <see cref="OperationCanceledException"/>.</param>
    /// <exception cref="ChatCapabilityException">The broker did not grant <c>rooms</c>.</exception>
    /// <exception cref="ChatRequestException">The broker refused, or did not answer within <see cref="ChatClientOptions.RequestTimeout"/>.</exception>
    /// <exception cref="ChatConnectionException">The connection ended before the answer.</exception>
    /// <exception cref="ObjectDisposedException">The client was disposed.</exception>
    public async Task<IReadOnlyList<string>> WhoAsync(string room, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(room);
        RequireCapability(ChatCapabilities.Rooms);
        var request = await RequestAsync(new WhoMessage(room), new PendingRequest(RequestKind.Who, room), cancellationToken).ConfigureAwait(false);
        return request.Answer.Result is RosterMessage roster ? roster.Participants : throw Refused(request);
    }

    /// <summary>
    /// Sends a direct message to one participant (version 2, needs <c>direct</c>). The broker delivers it
    /// to them and echoes it to this client (<see cref="DirectMessages"/>). Its refusals
    /// (<c>no such user 'bob'</c>, <c>'bob' cannot receive direct messages</c>) cannot be told apart
    /// from other errors, so they arrive on <see cref="Messages"/> as <see cref="ErrorMessage"/>.
    /// </summary>
    /// <param name="to">The recipient's nickname.</param>
    /// <param name="text">The text.</param>
    /// <param name="cancellationToken">Abandons the send while it waits for its turn.</param>
    /// <exception cref="ChatCapabilityException">The broker did not grant <c>direct</c>.</exception>
    /// <exception cref="ArgumentException">The line is longer than the broker accepts (<see cref="ServerMaxLineLength"/>).</exception>
    /// <exception cref="ObjectDisposedException">The client was disposed.</exception>
    /// <exception cref="ChatConnectionException">The connection has ended or failed.</exception>
    public Task SendDirectAsync(string to, string text, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(to);
        ArgumentNullException.ThrowIfNull(text);
        RequireCapability(ChatCapabilities.Direct);
        return SendLineAsync(new DirectMessage(to, text), cancellationToken, nameof(text));
    }

    /// <summary>
    /// The direct messages of <see cref="ReadMessagesAsync"/>, with its buffering and its ending.
    /// </summary>
    /// <param name="cancellationToken">Stops this enumeration (with <see cref="OperationCanceledException"/>); the connection stays.</param>
    public async IAsyncEnumerable<DirectDeliveryMessage> ReadDirectMessagesAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await foreach (var message in ReadMessagesAsync(cancellationToken).ConfigureAwait(false))
        {
            if (message is DirectDeliveryMessage direct)
            {
                yield return direct;
            }
        }
    }

    /// <summary>Leaves <paramref name="room"/> and waits for the answer; a <c>not in room</c> refusal counts as left.</summary>
    internal async Task LeaveAsync(ChatRoom room, CancellationToken cancellationToken)
    {
        var request = await RequestAsync(new LeaveMessage(room.Name), new PendingRequest(RequestKind.Leave, room.Name), cancellationToken).ConfigureAwait(false);
        if (request.Answer.Result is ErrorMessage error && !error.Message.StartsWith("not in room '", StringComparison.Ordinal))
        {
            throw ChatRequestException.FromBroker(error.Message);
        }
    }

    /// <summary>Lets a room go on this side (its leave could not be confirmed).</summary>
    internal void Forget(ChatRoom room)
    {
        lock (_roomsLock)
        {
            if (_rooms.TryGetValue(room.Name, out var current) && current == room)
            {
                _rooms.Remove(room.Name);
                PublishRoomList();
            }
        }
    }

    /// <summary>The wire type of a server message, to name it in a one-line reason.</summary>
    private static string WireType(ServerMessage message) => message switch
    {
        WelcomeMessage => "welcome",
        RosterMessage => "roster",
        UserJoinedMessage => "user_joined",
        UserLeftMessage => "user_left",
        ChatBroadcastMessage => "chat",
        ErrorMessage => "error",
        JoinedMessage => "joined",
        LeftMessage => "left",
        RoomListMessage => "room_list",
        DirectDeliveryMessage => "direct",
        _ => message.GetType().Name,
    };

    private static ChatRequestException Refused(PendingRequest request) =>
        ChatRequestException.FromBroker(request.Answer.Result is ErrorMessage error ? error.Message : $"the broker answered '{request.WireType}' with {request.Answer.Result}");

    private void RequireCapability(string capability)
    {
        if (!Capabilities.Contains(capability, StringComparer.Ordinal))
        {
            throw ChatCapabilityException.NotGranted(capability);
        }
    }

    /// <summary>Sends a request once none is outstanding, and waits for its answer (or refusal).</summary>
    private async Task<PendingRequest> RequestAsync(ClientMessage message, PendingRequest request, CancellationToken cancellationToken, bool restoring = false)
    {
        ThrowIfUnusable(restoring);
        StartReading();
        await _requestLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            // Installed before the line goes out, so an answer cannot slip past. End() and a lost
            // connection fail whatever is installed; one installed after that is caught by the check
            // that follows.
            Interlocked.Exchange(ref _pending, request);
            ThrowIfUnusable(restoring);
            await SendLineAsync(message, cancellationToken, "room", restoring).ConfigureAwait(false);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            if (_options.RequestTimeout != Timeout.InfiniteTimeSpan)
            {
                timeout.CancelAfter(_options.RequestTimeout);
            }

            try
            {
                await request.Answer.WaitAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException exception) when (!cancellationToken.IsCancellationRequested)
            {
                var seconds = _options.RequestTimeout.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture);
                var text = $"the broker did not answer '{request.WireType}' within {seconds} s";
                throw new ChatRequestException(text, new TimeoutException(text, exception));
            }

            return request;
        }
        finally
        {
            Interlocked.CompareExchange(ref _pending, null, request);
            _requestLock.Release();
        }
    }

    /// <summary>Room-level state for a message (reader loop): presence, removal; returns the room a chat belongs to.</summary>
    private ChatRoom? Route(ServerMessage message)
    {
        switch (message)
        {
            case ChatBroadcastMessage { Room: { } name }:
                return Find(name);
            case UserJoinedMessage { Room: { } name }:
                Find(name)?.Apply(message);
                return null;
            case UserLeftMessage { Room: { } name }:
                Find(name)?.Apply(message);
                return null;
            case LeftMessage left:
                var leaving = Volatile.Read(ref _pending) is { Kind: RequestKind.Leave } request && request.Matches(left);
                Remove(left.Room)?.End(leaving ? ChatRoomCloseReason.LeftByClient : ChatRoomCloseReason.RemovedByServer, failure: null);
                return null;
            default:
                return null;
        }
    }

    /// <summary>Completes the outstanding request when this message is its answer (reader loop).</summary>
    private void Answer(ServerMessage message)
    {
        var request = Volatile.Read(ref _pending);
        if (request is null || !request.Matches(message) || Interlocked.CompareExchange(ref _pending, null, request) != request)
        {
            return;
        }

        switch (message)
        {
            case JoinedMessage joined when request.Rejoining is { } rejoined:
                // The same room object goes on after a reconnect: its consumers stay attached.
                rejoined.Rejoined(joined);
                request.JoinedRoom = rejoined;
                break;
            case JoinedMessage joined:
                // Registered here, on the reader loop, so the history right behind joined finds its room.
                var room = new ChatRoom(this, joined, _options.ReadBufferCapacity);
                Register(room);
                request.JoinedRoom = room;
                break;
            case ErrorMessage error when request.Kind == RequestKind.Leave && error.Message.StartsWith("not in room '", StringComparison.Ordinal):
                Remove(request.Room!)?.End(ChatRoomCloseReason.LeftByClient, failure: null);
                break;
        }

        request.Complete(message);
    }

    private ChatRoom? Find(string name)
    {
        lock (_roomsLock)
        {
            return _rooms.GetValueOrDefault(name);
        }
    }

    private void Register(ChatRoom room)
    {
        ChatRoom? replaced;
        lock (_roomsLock)
        {
            _rooms.Remove(room.Name, out replaced);
            _rooms[room.Name] = room;
            PublishRoomList();
        }

        replaced?.End(ChatRoomCloseReason.RemovedByServer, failure: null);
    }

    private ChatRoom? Remove(string name)
    {
        lock (_roomsLock)
        {
            if (!_rooms.Remove(name, out var room))
            {
                return null;
            }

            PublishRoomList();
            return room;
        }
    }

    private ChatRoom[] TakeRooms()
    {
        lock (_roomsLock)
        {
            var rooms = _rooms.Values.ToArray();
            _rooms.Clear();
            PublishRoomList();
            return rooms;
        }
    }

    // Dictionary enumeration order is insertion order only without removals; keep the join order explicitly.
    private void PublishRoomList() =>
        _roomList = Array.AsReadOnly(_roomList.Where(room => _rooms.TryGetValue(room.Name, out var current) && current == room)
            .Concat(_rooms.Values.Where(room => !_roomList.Contains(room)))
            .ToArray());
}
