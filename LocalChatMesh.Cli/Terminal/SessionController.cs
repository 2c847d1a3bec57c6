using LocalChatMesh.Protocol;

namespace LocalChatMesh.Cli.Terminal;

/// <summary>Where a session's lines go: plain standard output and error, or the interactive screen.</summary>
internal interface ISessionOutput
{
    /// <summary>Shows one of the client's own lines (a notice, a hint, a refusal).</summary>
    void Show(ChatLine line);

    /// <summary>Shows a server message: <paramref name="line"/> is how it renders, null when it prints nothing.</summary>
    void ShowMessage(ServerMessage message, ChatLine? line);

    /// <summary>The status (rooms, unread counts, participants) changed.</summary>
    void StatusChanged();
}

internal enum SubmitResult
{
    Continue,
    Quit,
}

/// <summary>
/// The terminal client's session logic, shared by plain and interactive mode and independent of
/// both the terminal and the wire: typed lines become commands and requests on an
/// <see cref="IChatSession"/>, server messages become <see cref="ChatLine"/>s, and it keeps what
/// the status line and Tab completion need (rooms, unread counts, who is where).
/// </summary>
internal sealed class SessionController(IChatSession session, ISessionOutput output)
{
    private readonly Lock _lock = new();
    private readonly List<RoomState> _rooms = [];
    private string _current = SessionRenderer.Lobby;
    private string? _switchOnJoin;
    private IReadOnlyList<string> _listedRooms = [];
    private ConnectionState _state = ConnectionState.Connected;
    private readonly Dictionary<string, int> _joinShows = new(StringComparer.OrdinalIgnoreCase);
    private bool _welcomePending;
    private bool _reconnecting;

    /// <summary>How many of a room's latest chats <c>/join</c> shows (marked as history), when the broker keeps history.</summary>
    public const int JoinHistory = 20;

    /// <summary>
    /// How many chats of each room the client keeps for <c>/history</c>: a join asks the broker for
    /// this many (<c>history</c>) and shows only the last <see cref="JoinHistory"/>; every chat since is kept too.
    /// </summary>
    public const int KeptHistory = HistoryCommand.MaxCount;

    /// <summary>The room plain lines go to.</summary>
    public string CurrentRoom
    {
        get
        {
            lock (_lock)
            {
                return _current;
            }
        }
    }

    public ConnectionState State
    {
        get
        {
            lock (_lock)
            {
                return _state;
            }
        }

        set
        {
            lock (_lock)
            {
                _state = value;
            }

            output.StatusChanged();
        }
    }

    /// <summary>
    /// Prints the welcome line. Call before subscribing to the session's messages. With <c>rooms</c>
    /// the line waits for the lobby's answer (<see cref="JoinLobbyAsync"/>), so that, as with a
    /// version 1 broker, <c>*** connected as alice</c> means you are in the lobby.
    /// </summary>
    public void Start()
    {
        lock (_lock)
        {
            _welcomePending = true;
            if (!session.SupportsRooms)
            {
                // Without rooms the broker put us in the lobby at welcome.
                _rooms.Add(new RoomState(SessionRenderer.Lobby));
            }
        }

        if (!session.SupportsRooms)
        {
            ShowWelcome();
        }

        output.StatusChanged();
    }

    /// <summary>
    /// With <c>rooms</c>, joins the lobby (PROTOCOL.md: the terminal client starts there). Call after
    /// subscribing. A refusal is shown as one line; connection failures are the caller's to handle.
    /// </summary>
    public async Task JoinLobbyAsync(CancellationToken cancellationToken)
    {
        if (!session.SupportsRooms)
        {
            return;
        }

        try
        {
            // The lobby's history is fetched for /history but not shown: a lobby session looks like version 1.
            Expect(SessionRenderer.Lobby, shown: 0);
            await session.JoinAsync(SessionRenderer.Lobby, KeptHistory, cancellationToken);
        }
        catch (ChatMeshException exception) when (exception is not ChatConnectionException)
        {
            ShowWelcome();
            output.Show(ChatLine.Error(exception.Message));
        }
        finally
        {
            ShowWelcome();
        }
    }

    // The welcome line, once: before the first line after it, whichever comes first.
    private void ShowWelcome()
    {
        lock (_lock)
        {
            if (!_welcomePending)
            {
                return;
            }

            _welcomePending = false;
        }

        var welcome = session.Welcome;
        output.ShowMessage(welcome, SessionRenderer.Render(welcome, Context()));
    }

    /// <summary>Takes one server message: updates rooms and participants, then shows its line.</summary>
    public void OnMessage(ServerMessage message)
    {
        ShowWelcome();
        var shown = new List<(ServerMessage Message, ChatLine? Line)>();
        var notices = new List<ChatLine>();
        lock (_lock)
        {
            Take(message, shown, notices);
        }

        Show(shown, notices);
        output.StatusChanged();
    }

    // Under the lock: what one server message changes, and the lines it shows (none, its own, or
    // the held replay of a join that it ends).
    private void Take(ServerMessage message, List<(ServerMessage Message, ChatLine? Line)> shown, List<ChatLine> notices)
    {
        switch (message)
        {
            // Back after a reconnect, a room joined again does not print its joined (or the version 1
            // roster) again: it says how it resumed (OnResume), and who came or went meanwhile.
            case JoinedMessage again when Find(again.Room) is { Rejoining: true } room:
                room.Rejoining = false;
                RosterChanges(room, again.Room, again.Participants, notices);
                Track(message);
                shown.Add((message, null));
                return;
            case RosterMessage { Room: null } again when !session.SupportsRooms && Find(SessionRenderer.Lobby) is { Rejoining: true } lobby:
                lobby.Rejoining = false;
                RosterChanges(lobby, null, again.Participants, notices);
                Track(message);
                shown.Add((message, null));
                return;
            case JoinedMessage joined when Find(joined.Room) is null:
                var show = _joinShows.Remove(joined.Room, out var count) ? count : (int?)null;
                Track(message);
                shown.Add((message, SessionRenderer.Render(message, Context())));
                if (show is { } wanted && joined.LastId is > 0 and var last && Find(joined.Room) is { } entered)
                {
                    // The replay behind joined is held, and its last lines shown once it ends.
                    entered.Replay = new Replay(last, wanted);
                }

                return;
            case ChatBroadcastMessage chat when Find(chat.Room ?? SessionRenderer.Lobby) is { } room:
                room.Keep(chat);
                if (room.Replay is { } replay)
                {
                    if (chat.History == true)
                    {
                        replay.Held.Add(chat);
                        if (chat.Id >= replay.Target)
                        {
                            EndReplay(room, shown);
                        }

                        return;
                    }

                    // A live chat: whatever replay there was is over.
                    EndReplay(room, shown);
                }

                break;
        }

        Track(message);
        shown.Add((message, SessionRenderer.Render(message, Context())));
    }

    // Who came or went while the connection was away, as the presence lines they would have been.
    private void RosterChanges(RoomState room, string? name, IReadOnlyList<string> now, List<ChatLine> notices)
    {
        var context = Context();
        foreach (var gone in room.Participants.Where(p => !now.Contains(p, StringComparer.OrdinalIgnoreCase)))
        {
            notices.Add(SessionRenderer.Render(new UserLeftMessage(gone) { Room = name }, context)!);
        }

        foreach (var came in now.Where(p => !room.Participants.Contains(p, StringComparer.OrdinalIgnoreCase)))
        {
            notices.Add(SessionRenderer.Render(new UserJoinedMessage(came) { Room = name }, context)!);
        }
    }

    // Under the lock: the held replay of a join is over; its last lines are shown.
    private void EndReplay(RoomState room, List<(ServerMessage Message, ChatLine? Line)> shown)
    {
        if (room.Replay is not { } replay)
        {
            return;
        }

        room.Replay = null;
        var context = Context();
        foreach (var chat in replay.Held.Skip(Math.Max(0, replay.Held.Count - replay.Shown)))
        {
            shown.Add((chat, SessionRenderer.Render(chat, context)));
        }
    }

    private void Expect(string room, int shown)
    {
        lock (_lock)
        {
            _joinShows[room] = shown;
        }
    }

    private void Show(List<(ServerMessage Message, ChatLine? Line)> shown, List<ChatLine> notices)
    {
        foreach (var notice in notices)
        {
            output.Show(notice);
        }

        foreach (var (message, line) in shown)
        {
            output.ShowMessage(message, line);
        }
    }

    /// <summary>
    /// Takes one step of a connection that comes back by itself (PROTOCOL.md): the loss
    /// (<c>*** server closed the connection</c>), each wait (<c>*** reconnecting in 2 s (attempt 3)</c>),
    /// and being back (see <see cref="OnResume"/>; <c>*** reconnected; messages may be missing</c>
    /// when no room said more).
    /// </summary>
    public void OnConnectionStatus(ChatConnectionStatus status)
    {
        ArgumentNullException.ThrowIfNull(status);
        switch (status.State)
        {
            case ChatConnectionState.Reconnecting:
                bool first;
                var held = new List<(ServerMessage Message, ChatLine? Line)>();
                lock (_lock)
                {
                    first = !_reconnecting;
                    _reconnecting = true;

                    // Each room is joined again on the new connection: its joined is not news (Take).
                    foreach (var room in _rooms)
                    {
                        room.Rejoining = true;
                        EndReplay(room, held);
                    }
                }

                Show(held, []);
                if (first)
                {
                    output.Show(ChatLine.Notice(TerminalRenderer.ServerClosed));
                }

                output.Show(ChatLine.Notice($"*** reconnecting in {Seconds(status.Delay ?? TimeSpan.Zero)} s (attempt {status.Attempt})"));
                State = ConnectionState.Reconnecting;
                break;
            case ChatConnectionState.Connected when status.Attempt > 0:
                bool inRooms;
                lock (_lock)
                {
                    // Each room says how it resumed (OnResume); without rooms this line says it.
                    inRooms = session.SupportsRooms && _rooms.Count > 0;
                    _reconnecting = false;
                }

                if (!inRooms)
                {
                    output.Show(ChatLine.Notice("*** reconnected; messages may be missing"));
                }

                State = ConnectionState.Connected;
                break;
        }
    }

    /// <summary>A room joined again after a reconnect: whether what it missed was replayed.</summary>
    public void OnResume(string room, ChatRoomResume resume)
    {
        ArgumentNullException.ThrowIfNull(resume);
        string tag;
        lock (_lock)
        {
            tag = SessionRenderer.SameRoom(room, _current) ? "" : $"[{TextSanitizer.Sanitize(room)}] ";
        }

        output.Show(ChatLine.Notice(resume.Recovered
            ? $"{tag}*** reconnected; {resume.Replayed} missed message{(resume.Replayed == 1 ? "" : "s")} recovered"
            : $"{tag}*** reconnected; messages may be missing"));
    }

    private static string Seconds(TimeSpan delay) =>
        (delay <= TimeSpan.Zero ? 0 : Math.Max(1, Math.Round(delay.TotalSeconds, MidpointRounding.AwayFromZero))).ToString("0", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>
    /// Acts on one typed line. A request the library refuses (a <see cref="ChatMeshException"/>:
    /// not granted, refused, no answer in time) is shown as one <c>!!!</c> line; connection
    /// failures (<see cref="ChatConnectionException"/>) are the caller's to handle.
    /// </summary>
    public async Task<SubmitResult> SubmitAsync(string line, CancellationToken cancellationToken)
    {
        try
        {
            return await ActAsync(CommandParser.Parse(line), cancellationToken);
        }
        catch (ChatMeshException exception) when (exception is not ChatConnectionException || session.IsReconnecting)
        {
            // While the connection comes back nothing is sent, and the session goes on.
            output.Show(ChatLine.Error(exception.Message));
            return SubmitResult.Continue;
        }
    }

    private async Task<SubmitResult> ActAsync(ChatCommand command, CancellationToken cancellationToken)
    {
        switch (command)
        {
            case QuitCommand:
                return SubmitResult.Quit;
            case NoCommand:
                break;
            case SayCommand say:
                await SayAsync(say.Text, cancellationToken);
                break;
            case RefusedCommand refused:
                output.Show(ChatLine.Error(refused.Hint));
                break;
            case HistoryCommand history:
                ShowHistory(history.Count);
                break;
            case HelpCommand:
                foreach (var help in CommandParser.Help)
                {
                    output.Show(ChatLine.Notice(help));
                }

                break;
            case DirectCommand direct:
                await DirectAsync(direct, cancellationToken);
                break;
            case SwitchCommand change:
                Switch(change.Room);
                break;
            case WhoCommand { Room: var room } when !session.SupportsRooms && (room is null || SessionRenderer.IsLobby(room)):
                output.Show(ChatLine.Notice(LobbyRoster()));
                break;
            case var other when !session.SupportsRooms:
                output.Show(ChatLine.Error($"{Describe(other)} needs rooms, which this broker does not offer (version 1)"));
                break;
            case JoinCommand join:
                lock (_lock)
                {
                    if (Find(join.Room) is { } known)
                    {
                        _current = known.Name;
                        known.Unread = 0;
                        output.StatusChanged();
                        return SubmitResult.Continue;
                    }

                    _switchOnJoin = join.Room;
                    _joinShows[join.Room] = JoinHistory;
                }

                await session.JoinAsync(join.Room, KeptHistory, cancellationToken);
                break;
            case LeaveCommand leave:
                await session.LeaveAsync(leave.Room ?? CurrentRoom, cancellationToken);
                break;
            case RoomsCommand:
                await session.ListRoomsAsync(cancellationToken);
                break;
            case WhoCommand who:
                await session.WhoAsync(who.Room ?? CurrentRoom, cancellationToken);
                break;
        }

        return SubmitResult.Continue;
    }

    /// <summary>The status line's model right now.</summary>
    public StatusLine Status()
    {
        lock (_lock)
        {
            var others = _rooms.Where(r => !SessionRenderer.SameRoom(r.Name, _current)).Select(r => new RoomUnread(TextSanitizer.Sanitize(r.Name), r.Unread)).ToList();
            return new StatusLine(session.Nickname, TextSanitizer.Sanitize(_current), others, _state);
        }
    }

    /// <summary>What Tab can complete to right now.</summary>
    public CompletionSources Completions()
    {
        lock (_lock)
        {
            var nicknames = Find(_current)?.Participants.ToList() ?? [];
            var rooms = _rooms.Select(r => r.Name).Concat(_listedRooms).ToList();
            return new CompletionSources(nicknames, rooms);
        }
    }

    /// <summary>
    /// True when <paramref name="text"/> fits in one line the broker accepts from this client.
    /// The broker counts the encoded JSON line without its newline, so escapes (a quote, a
    /// control character, non-ASCII as UTF-8) count at their encoded size.
    /// </summary>
    public static bool Fits(ClientMessage message, int maxLineLength, out int encodedLength)
    {
        encodedLength = MessageEncoder.Encode(message).Length - 1;
        return encodedLength <= maxLineLength;
    }

    private async Task SayAsync(string text, CancellationToken cancellationToken)
    {
        string? room;
        lock (_lock)
        {
            if (session.SupportsRooms && Find(_current) is null)
            {
                output.Show(ChatLine.Error($"you are not in {TextSanitizer.Sanitize(_current)}: /join a room first"));
                return;
            }

            room = session.SupportsRooms ? _current : null;
        }

        if (!CheckLength(new ChatMessage(text) { Room = room }))
        {
            return;
        }

        await session.SendAsync(room, text, cancellationToken);
    }

    private async Task DirectAsync(DirectCommand direct, CancellationToken cancellationToken)
    {
        if (!session.SupportsDirect)
        {
            output.Show(ChatLine.Error("/msg needs direct messages, which this broker does not offer (version 1)"));
            return;
        }

        if (CheckLength(new DirectMessage(direct.Nickname, direct.Text)))
        {
            await session.DirectAsync(direct.Nickname, direct.Text, cancellationToken);
        }
    }

    private bool CheckLength(ClientMessage message)
    {
        if (Fits(message, session.MaxLineLength, out var length))
        {
            return true;
        }

        output.Show(ChatLine.Error($"line not sent: it is {length} bytes as sent, and the broker accepts at most {session.MaxLineLength}"));
        return false;
    }

    // The last chats of the current room, marked as history as a join's replay is.
    private void ShowHistory(int count)
    {
        var shown = new List<(ServerMessage Message, ChatLine? Line)>();
        ChatLine? notice = null;
        lock (_lock)
        {
            if (Find(_current) is not { } room)
            {
                notice = ChatLine.Error($"you are not in {TextSanitizer.Sanitize(_current)}: /join a room first");
            }
            else if (room.Recent.Count == 0)
            {
                notice = ChatLine.Notice($"*** no history in {TextSanitizer.Sanitize(room.Name)}");
            }
            else
            {
                var context = Context();
                foreach (var chat in room.Recent.Skip(Math.Max(0, room.Recent.Count - count)))
                {
                    var replayed = chat with { History = true };
                    shown.Add((replayed, SessionRenderer.Render(replayed, context)));
                }
            }
        }

        Show(shown, notice is null ? [] : [notice]);
    }

    private void Switch(string room)
    {
        lock (_lock)
        {
            if (Find(room) is not { } known)
            {
                output.Show(ChatLine.Error($"you are not in {room}: /join {room} first"));
                return;
            }

            _current = known.Name;
            known.Unread = 0;
        }

        output.StatusChanged();
    }

    private string LobbyRoster()
    {
        lock (_lock)
        {
            var participants = Find(SessionRenderer.Lobby)?.Participants ?? [];
            return participants.Count == 0
                ? "*** nobody else is online"
                : $"*** currently online: {string.Join(", ", participants.Select(TextSanitizer.Sanitize))}";
        }
    }

    private static string Describe(ChatCommand command) => command switch
    {
        JoinCommand => "/join",
        LeaveCommand => "/leave",
        RoomsCommand => "/rooms",
        WhoCommand => "/who",
        _ => "this command",
    };

    // Called under the lock, before the message is rendered.
    private void Track(ServerMessage message)
    {
        switch (message)
        {
            case RosterMessage { Room: null } roster:
                Room(SessionRenderer.Lobby).Participants = [.. roster.Participants];
                break;
            case JoinedMessage joined:
                var entered = Room(joined.Room);
                entered.Participants = [.. joined.Participants];
                if (_switchOnJoin is { } wanted && SessionRenderer.SameRoom(wanted, joined.Room))
                {
                    _current = entered.Name;
                    _switchOnJoin = null;
                }
                else if (_rooms.Count == 1)
                {
                    _current = entered.Name;
                }

                break;
            case LeftMessage left:
                _rooms.RemoveAll(r => SessionRenderer.SameRoom(r.Name, left.Room));
                if (SessionRenderer.SameRoom(left.Room, _current) && _rooms.Count > 0)
                {
                    _current = (Find(SessionRenderer.Lobby) ?? _rooms[0]).Name;
                }

                break;
            case UserJoinedMessage joined when Find(joined.Room ?? SessionRenderer.Lobby) is { } room:
                room.Participants.RemoveAll(p => string.Equals(p, joined.Nickname, StringComparison.OrdinalIgnoreCase));
                room.Participants.Add(joined.Nickname);
                break;
            case UserLeftMessage left when Find(left.Room ?? SessionRenderer.Lobby) is { } room:
                room.Participants.RemoveAll(p => string.Equals(p, left.Nickname, StringComparison.OrdinalIgnoreCase));
                break;
            case ChatBroadcastMessage { Room: { } chatRoom } when !SessionRenderer.SameRoom(chatRoom, _current) && Find(chatRoom) is { } room:
                room.Unread++;
                break;
            case RoomListMessage list:
                _listedRooms = [.. list.Rooms.Select(r => r.Room)];
                break;
        }
    }

    private RenderContext Context() => new(session.Nickname, _current);

    private RoomState? Find(string room) => _rooms.Find(r => SessionRenderer.SameRoom(r.Name, room));

    private RoomState Room(string room)
    {
        if (Find(room) is { } known)
        {
            return known;
        }

        var added = new RoomState(room);
        _rooms.Add(added);
        return added;
    }

    private sealed class RoomState(string name)
    {
        public string Name { get; } = name;

        public List<string> Participants { get; set; } = [];

        public int Unread { get; set; }

        /// <summary>The room's latest chats (at most <see cref="KeptHistory"/>), for <c>/history</c>.</summary>
        public Queue<ChatBroadcastMessage> Recent { get; } = new();

        /// <summary>The join's replay being held, until it ends; null otherwise.</summary>
        public Replay? Replay { get; set; }

        /// <summary>True from a lost connection until the room's joined on the new one.</summary>
        public bool Rejoining { get; set; }

        public void Keep(ChatBroadcastMessage chat)
        {
            if (Recent.Count == KeptHistory)
            {
                Recent.Dequeue();
            }

            Recent.Enqueue(chat);
        }
    }

    /// <summary>A join's replay: it ends with the chat whose id is <see cref="Target"/> (the joined's last id), or at the first live chat; its last <see cref="Shown"/> chats are shown.</summary>
    private sealed record Replay(long Target, int Shown)
    {
        public List<ChatBroadcastMessage> Held { get; } = [];
    }
}
