using System.Net;
using System.Reactive.Disposables;
using System.Reactive.Linq;
using System.Reactive.Subjects;
using System.Reactive.Threading.Tasks;
using LocalChatMesh.Protocol;

namespace LocalChatMesh.Cli.Terminal;

/// <summary>
/// <see cref="IChatSession"/> over the version 2 <see cref="ChatClient"/>: asks for every capability
/// (<see cref="ChatCapabilities.All"/>) and uses what the broker grants. Against a version 1 broker
/// nothing is granted and the session is the version 1 one, byte for byte.
/// </summary>
/// <remarks>
/// <para>
/// The library answers each request (join, leave, rooms, who) twice: the answer, or the broker's
/// refusal, is published on <see cref="ChatClient.Messages"/>, and the call returns it, or throws
/// <see cref="ChatRequestException"/> for the refusal. The terminal shows what arrives on
/// <see cref="Messages"/>, so a refusal with the broker's text is swallowed here: it prints once.
/// Only a refusal that did not come from the broker (no answer in time) is thrown on.
/// </para>
/// <para>
/// A request returns only once its answer has been through <see cref="Messages"/>, so the state the
/// session logic keeps from it (the room just joined, made current) is there for the next typed line.
/// </para>
/// </remarks>
internal sealed class V2ChatSession : IChatSession
{
    /// <summary>How long a request waits for its answer to pass through <see cref="Messages"/> after the library has it.</summary>
    private static readonly TimeSpan DeliveryGrace = TimeSpan.FromSeconds(5);

    /// <summary>How long a join waits for the history replay behind its answer (a broker keeping no history sends none).</summary>
    private static readonly TimeSpan ReplayGrace = TimeSpan.FromSeconds(1);

    private readonly ChatClient _client;
    private readonly Lock _lock = new();
    private readonly List<Watch> _watches = [];
    private readonly List<PendingResume> _pendingResumes = [];
    private readonly Dictionary<string, long> _deliveredIds = new(StringComparer.OrdinalIgnoreCase);
    private readonly Subject<Exception> _failed = new();
    private readonly Subject<(string Room, ChatRoomResume Resume)> _resumes = new();
    private readonly IDisposable? _lossWatch;
    private volatile bool _lost;
    private volatile string? _lossFailure;

    public V2ChatSession(ChatClient client)
    {
        _client = client;
        Messages = Observable.Create<ServerMessage>(observer => new CompositeDisposable(
            _failed.Subscribe(observer.OnError),
            client.Messages.Subscribe(
                message =>
                {
                    observer.OnNext(message);
                    Delivered(message);
                    FlushResumes(message);
                },
                exception =>
                {
                    observer.OnError(exception);
                    EndWatches();
                },
                () =>
                {
                    observer.OnCompleted();
                    EndWatches();
                })));

        // Without a session (a version 1 broker) there is no coming back: a lost connection ends
        // the session as it always did, a failure as a failure.
        if (!Reconnects)
        {
            _lossWatch = client.ConnectionStates.Subscribe(status =>
            {
                if (status.State == ChatConnectionState.Reconnecting && !_lost)
                {
                    _lost = true;
                    if (IsFailure(status.Reason))
                    {
                        _lossFailure = status.Reason;
                        _failed.OnNext(new ChatConnectionException(status.Reason!));
                    }

                    _ = Task.Run(() => client.DisposeAsync().AsTask());
                }
            });
        }

        Completion = EndingAsync();
    }

    /// <summary>True when the broker gave a session, so a lost connection can come back by itself (when reconnect is on; otherwise the client closes).</summary>
    public bool Reconnects => _client.Session is not null;

    public IObservable<ChatConnectionStatus> ConnectionStates => Reconnects ? _client.ConnectionStates : Observable.Never<ChatConnectionStatus>();

    public IObservable<(string Room, ChatRoomResume Resume)> Resumes => _resumes;

    public bool IsReconnecting => Reconnects && _client.ConnectionState is ChatConnectionState.Reconnecting or ChatConnectionState.Connecting;

    public string Nickname => _client.Nickname;

    /// <summary>
    /// The <c>welcome</c> as the broker sent it (what the library kept of it: the grants and the line
    /// limit), except the <c>session</c> secret, which is a credential and stays off standard output.
    /// </summary>
    public WelcomeMessage Welcome => new(_client.Nickname)
    {
        Capabilities = _client.Capabilities.Count > 0 ? _client.Capabilities : null,
        MaxLineLength = _client.ServerMaxLineLength,
    };

    public bool SupportsRooms => Granted(ChatCapabilities.Rooms);

    public bool SupportsDirect => Granted(ChatCapabilities.Direct);

    /// <summary>True when the broker granted <c>history</c>: <c>/join</c> then replays the room's latest chats.</summary>
    public bool SupportsHistory => Granted(ChatCapabilities.History);

    public int MaxLineLength => _client.ServerMaxLineLength ?? BrokerOptions.Default.MaxLineLength;

    public IObservable<ServerMessage> Messages { get; }

    public Task<ChatClientCloseReason> Completion { get; }

    /// <summary>Connects asking for every capability; with <paramref name="reconnect"/>, a lost connection comes back by itself (<see cref="ChatReconnectPolicy.Default"/>).</summary>
    public static Task<IChatSession> ConnectAsync(IPEndPoint server, string nickname, CancellationToken cancellationToken) =>
        ConnectAsync(server, nickname, reconnect: true, cancellationToken);

    /// <summary>Connects asking for every capability; with <paramref name="reconnect"/>, a lost connection comes back by itself (<see cref="ChatReconnectPolicy.Default"/>).</summary>
    public static Task<IChatSession> ConnectAsync(IPEndPoint server, string nickname, bool reconnect, CancellationToken cancellationToken) =>
        ConnectAsync([server], nickname, reconnect, connection: null, cancellationToken);

    /// <summary>
    /// Connects asking for every capability to the first of <paramref name="servers"/> that answers
    /// (brokers of one cluster), with the token and TLS settings of <paramref name="connection"/>
    /// (null: none); with <paramref name="reconnect"/>, a lost connection comes back by itself, to
    /// any of them (<see cref="ChatReconnectPolicy.Default"/>).
    /// </summary>
    public static async Task<IChatSession> ConnectAsync(IReadOnlyList<IPEndPoint> servers, string nickname, bool reconnect, ChatClientOptions? connection, CancellationToken cancellationToken)
    {
        var options = (connection ?? ChatClientOptions.Default) with
        {
            Capabilities = ChatCapabilities.All,
            Reconnect = reconnect ? ChatReconnectPolicy.Default : null,
        };
        return new V2ChatSession(await ChatClient.ConnectAsync(servers, nickname, options, cancellationToken));
    }

    public async Task SendAsync(string? room, string text, CancellationToken cancellationToken)
    {
        await UntilRestoredAsync(cancellationToken);
        try
        {
            if (room is null || !SupportsRooms)
            {
                await _client.SendAsync(text, cancellationToken);
                return;
            }

            await Joined(room).SendAsync(text, cancellationToken);
        }
        catch (InvalidOperationException exception) when (exception is not ObjectDisposedException)
        {
            // Left (or removed) between the check and the send.
            throw NotIn(room!);
        }
        catch (ArgumentException exception)
        {
            throw new ChatMeshException($"line not sent: {exception.Message.Split(" (Parameter", 2)[0]}");
        }
        catch (ChatConnectionException exception) when (ComingBack)
        {
            throw NotSent(exception);
        }
    }

    public Task JoinAsync(string room, CancellationToken cancellationToken) => JoinAsync(room, history: 0, cancellationToken);

    public Task JoinAsync(string room, int history, CancellationToken cancellationToken)
    {
        // History needs its own capability; without it a join is a plain one.
        var options = history > 0 && SupportsHistory ? new ChatJoinOptions { History = history } : ChatJoinOptions.Default;
        return RequestAsync(
            async () =>
            {
                var entered = await _client.JoinAsync(room, options, cancellationToken);
                entered.Resumes.Subscribe(resume => Resumed(entered, resume));
                var joined = entered.Joined;
                return new Answer(message => message is JoinedMessage answer && SessionRenderer.SameRoom(answer.Room, room))
                {
                    // The replay ends with the newest chat (last_id), or at the first live chat of the room.
                    Then = options.History is > 0 && joined.LastId is > 0 and var last
                        ? message => message is ChatBroadcastMessage chat && SessionRenderer.SameRoom(chat.Room, room) && (chat.History != true || chat.Id >= last)
                        : null,
                };
            },
            cancellationToken);
    }

    public Task LeaveAsync(string room, CancellationToken cancellationToken)
    {
        var joined = Joined(room);
        return RequestAsync(
            async () =>
            {
                await joined.LeaveAsync(cancellationToken);
                return new Answer(message => message is LeftMessage left && SessionRenderer.SameRoom(left.Room, room)
                    || message is ErrorMessage error && error.Message.StartsWith("not in room '", StringComparison.Ordinal));
            },
            cancellationToken);
    }

    public Task ListRoomsAsync(CancellationToken cancellationToken) => RequestAsync(
        async () =>
        {
            await _client.ListRoomsAsync(cancellationToken);
            return new Answer(message => message is RoomListMessage);
        },
        cancellationToken);

    public Task WhoAsync(string room, CancellationToken cancellationToken) => RequestAsync(
        async () =>
        {
            await _client.WhoAsync(room, cancellationToken);
            return new Answer(message => message is RosterMessage { Room: { } answered } && SessionRenderer.SameRoom(answered, room));
        },
        cancellationToken);

    // Refusals (no such user, cannot receive direct messages) arrive on Messages as errors.
    public async Task DirectAsync(string nickname, string text, CancellationToken cancellationToken)
    {
        await UntilRestoredAsync(cancellationToken);
        try
        {
            await _client.SendDirectAsync(nickname, text, cancellationToken);
        }
        catch (ArgumentException exception)
        {
            throw new ChatMeshException($"line not sent: {exception.Message.Split(" (Parameter", 2)[0]}");
        }
        catch (ChatConnectionException exception) when (ComingBack)
        {
            throw NotSent(exception);
        }
    }

    public ValueTask DisposeAsync()
    {
        _lossWatch?.Dispose();
        return _client.DisposeAsync();
    }

    // Back on a new connection, the library joins the rooms again before it takes lines (state
    // Connecting); the rooms' "reconnected" lines can be shown a moment before it is done. A line typed
    // in that moment waits for it, briefly, instead of being refused as "reconnecting".
    private async Task UntilRestoredAsync(CancellationToken cancellationToken)
    {
        if (!Reconnects || _client.ConnectionState != ChatConnectionState.Connecting)
        {
            return;
        }

        try
        {
            await _client.ConnectionStates.FirstAsync(status => status.State != ChatConnectionState.Connecting)
                .ToTask(cancellationToken).WaitAsync(DeliveryGrace, cancellationToken);
        }
        catch (Exception exception) when (exception is TimeoutException or InvalidOperationException)
        {
            // Still not back (or closed): the send says why.
        }
    }

    // The library's text for a transport failure, as opposed to the broker closing (PROTOCOL.md: that exits 1).
    private static bool IsFailure(string? reason) =>
        reason is not null && reason.StartsWith("the connection to ", StringComparison.Ordinal) && reason.Contains(" failed", StringComparison.Ordinal);

    private async Task<ChatClientCloseReason> EndingAsync()
    {
        var reason = await _client.Completion;
        return !_lost ? reason : _lossFailure is null ? ChatClientCloseReason.ClosedByServer : ChatClientCloseReason.TransportFailure;
    }

    // Lost while the client comes back by itself: a refusal of this one line, not the end of the session.
    private bool ComingBack => Reconnects && _client.ConnectionState != ChatConnectionState.Closed;

    private static ChatMeshException NotSent(ChatConnectionException exception) => new(exception.Message, exception);

    private static ChatMeshException NotIn(string room) => new($"not in room '{room}'");

    private bool Granted(string capability) => _client.Capabilities.Contains(capability, StringComparer.Ordinal);

    private ChatRoom Joined(string room) =>
        _client.Rooms.FirstOrDefault(r => SessionRenderer.SameRoom(r.Name, room) && r.IsJoined) ?? throw NotIn(room);

    /// <summary>
    /// Runs one library request; <paramref name="request"/> returns what its answer looks like on
    /// <see cref="Messages"/>. Returns once that answer (or the broker's refusal) has been delivered.
    /// </summary>
    private async Task RequestAsync(Func<Task<Answer>> request, CancellationToken cancellationToken)
    {
        await UntilRestoredAsync(cancellationToken);
        var watch = new Watch();
        lock (_lock)
        {
            _watches.Add(watch);
        }

        try
        {
            Answer answer;
            try
            {
                answer = await request();
            }
            catch (ChatConnectionException exception) when (ComingBack)
            {
                throw NotSent(exception);
            }
            catch (ChatRequestException exception) when (exception.ServerMessage is { } text)
            {
                // The broker's error is on Messages as well, and shows there: once.
                answer = new Answer(message => message is ErrorMessage error && string.Equals(error.Message, text, StringComparison.Ordinal));
            }

            await watch.UntilAsync(answer.Match, DeliveryGrace, cancellationToken);
            if (answer.Then is { } then)
            {
                await watch.UntilAsync(then, ReplayGrace, cancellationToken);
            }
        }
        finally
        {
            lock (_lock)
            {
                _watches.Remove(watch);
            }
        }
    }

    // A room can say it has resumed before the last chat of its replay has been through Messages
    // (rooms see a chat first, and the resume may come from another thread): its line waits until
    // the chat with the room's last id has been delivered, or a moment at most.
    private void Resumed(ChatRoom room, ChatRoomResume resume)
    {
        var pending = new PendingResume(room.Name, resume, resume.Replayed > 0 ? room.Joined.LastId : null);
        lock (_lock)
        {
            if (!pending.Ready(_deliveredIds))
            {
                _pendingResumes.Add(pending);
                _ = Task.Delay(ReplayGrace).ContinueWith(_ => FlushResumes(null), TaskScheduler.Default);
                return;
            }
        }

        _resumes.OnNext((pending.Room, pending.Resume));
    }

    // After each delivered message (or, with null, for whatever still waits).
    private void FlushResumes(ServerMessage? delivered)
    {
        PendingResume[] ready;
        lock (_lock)
        {
            if (delivered is ChatBroadcastMessage { Room: { } room, Id: { } id } && (!_deliveredIds.TryGetValue(room, out var seen) || id > seen))
            {
                _deliveredIds[room] = id;
            }

            if (_pendingResumes.Count == 0)
            {
                return;
            }

            ready = [.. _pendingResumes.Where(p => delivered is null || p.Ready(_deliveredIds))];
            _pendingResumes.RemoveAll(ready.Contains);
        }

        foreach (var resume in ready)
        {
            _resumes.OnNext((resume.Room, resume.Resume));
        }
    }

    private sealed record PendingResume(string Room, ChatRoomResume Resume, long? LastId)
    {
        public bool Ready(Dictionary<string, long> delivered) =>
            LastId is not { } last || (delivered.TryGetValue(Room, out var seen) && seen >= last);
    }

    private void Delivered(ServerMessage message)
    {
        Watch[] watches;
        lock (_lock)
        {
            watches = [.. _watches];
        }

        foreach (var watch in watches)
        {
            watch.Saw(message);
        }
    }

    private void EndWatches()
    {
        Watch[] watches;
        lock (_lock)
        {
            watches = [.. _watches];
        }

        foreach (var watch in watches)
        {
            watch.End();
        }
    }

    /// <summary>What a request's answer looks like on <see cref="Messages"/>, and optionally what ends what follows it.</summary>
    private sealed record Answer(Func<ServerMessage, bool> Match)
    {
        public Func<ServerMessage, bool>? Then { get; init; }
    }

    /// <summary>The messages delivered since a request began, and a wait for one that matches.</summary>
    private sealed class Watch
    {
        private readonly Lock _lock = new();
        private readonly List<ServerMessage> _seen = [];
        private Func<ServerMessage, bool>? _match;
        private TaskCompletionSource? _found;
        private bool _ended;

        public void Saw(ServerMessage message)
        {
            lock (_lock)
            {
                _seen.Add(message);
                if (_match is { } match && match(message))
                {
                    _found?.TrySetResult();
                }
            }
        }

        /// <summary>Waits until a matching message has been delivered (before or after this call), the connection ends, or <paramref name="grace"/> passes.</summary>
        public async Task UntilAsync(Func<ServerMessage, bool> match, TimeSpan grace, CancellationToken cancellationToken)
        {
            var found = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            lock (_lock)
            {
                if (_ended || _seen.Exists(m => match(m)))
                {
                    return;
                }

                _match = match;
                _found = found;
            }

            try
            {
                await found.Task.WaitAsync(grace, cancellationToken);
            }
            catch (TimeoutException)
            {
                // Nobody reads Messages, or the broker sent no such message: nothing more to wait for.
            }
        }

        public void End()
        {
            lock (_lock)
            {
                _ended = true;
                _found?.TrySetResult();
            }
        }
    }
}
