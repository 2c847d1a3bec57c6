using System.Reactive.Subjects;
using LocalChatMesh.Cli.Terminal;
using LocalChatMesh.Protocol;

namespace LocalChatMesh.Tests.Cli;

/// <summary>The session logic against a scripted <see cref="IChatSession"/>: commands, requests, rooms, unread counts.</summary>
public class SessionControllerTests
{
    [Test]
    public async Task Version_1_lines_are_sent_as_typed_and_commands_are_not_sent()
    {
        var (session, output, controller) = Start(rooms: false);

        await Submit(controller, "hello world", "", "   ", "//slash", "/help", "/nosuch", "/join dev", "/msg bob hi", "/rooms");

        Assert.That(session.Calls, Is.EqualTo(new[] { "send - hello world", "send - /slash" }));
        Assert.That(output.Lines, Has.Member("*** /join ROOM      enter a room (and make it current)"));
        Assert.That(output.Lines, Has.Member("!!! unknown command /nosuch: /help lists the commands, //nosuch sends it as text"));
        Assert.That(output.Lines, Has.Member("!!! /join needs rooms, which this broker does not offer (version 1)"));
        Assert.That(output.Lines, Has.Member("!!! /msg needs direct messages, which this broker does not offer (version 1)"));
        Assert.That(output.Lines, Has.Member("!!! /rooms needs rooms, which this broker does not offer (version 1)"));
        Assert.That(await controller.SubmitAsync("/quit", default), Is.EqualTo(SubmitResult.Quit));
    }

    [Test]
    public void Version_1_welcome_roster_and_presence_print_the_v1_lines_and_feed_completion()
    {
        var (session, output, controller) = Start(rooms: false);

        session.Receive(new RosterMessage(["bob", "carol"]), new UserJoinedMessage("dave"), new UserLeftMessage("bob"), new ChatBroadcastMessage("carol", "hi"));

        Assert.That(output.Lines, Is.EqualTo(new[]
        {
            "*** connected as alice",
            "*** currently online: bob, carol",
            "*** dave joined the chat",
            "*** bob left the chat",
            "<carol> hi",
        }));
        Assert.That(controller.Completions().Nicknames, Is.EqualTo(new[] { "carol", "dave" }));
        Assert.That(controller.Status().Render(), Is.EqualTo("[alice] [lobby]  connected"));
    }

    [Test]
    public async Task Version_1_who_answers_from_the_roster_it_has_seen()
    {
        var (session, output, controller) = Start(rooms: false);
        await Submit(controller, "/who");
        session.Receive(new RosterMessage(["bob"]));
        await Submit(controller, "/who lobby");

        Assert.That(output.Lines.Skip(1), Is.EqualTo(new[] { "*** nobody else is online", "*** currently online: bob", "*** currently online: bob" }));
        Assert.That(session.Calls, Is.Empty);
    }

    [Test]
    public async Task A_line_too_long_for_the_broker_is_refused_and_not_sent()
    {
        var (session, output, controller) = Start(rooms: false, maxLineLength: 100);
        var overhead = MessageEncoder.Encode(new ChatMessage("")).Length - 1;

        await Submit(controller, new string('a', 101 - overhead), new string('b', 100 - overhead), "quote \" costs two bytes", "é is two bytes");

        Assert.That(output.Lines, Has.Member($"!!! line not sent: it is 101 bytes as sent, and the broker accepts at most 100"));
        Assert.That(session.Calls, Is.EqualTo(new[] { $"send - {new string('b', 100 - overhead)}", "send - quote \" costs two bytes", "send - é is two bytes" }));
    }

    [TestCase("é", 2)]
    [TestCase("\"", 2)]
    [TestCase("\u0001", 6)]
    [TestCase("😀", 12)] // The encoder writes characters outside the BMP as two \u escapes.
    public void Line_length_counts_the_encoded_bytes(string text, int bytes)
    {
        var overhead = MessageEncoder.Encode(new ChatMessage("")).Length - 1;
        SessionController.Fits(new ChatMessage(text), 8192, out var length);

        Assert.That(length - overhead, Is.EqualTo(bytes));
    }

    [Test]
    public async Task With_rooms_it_joins_the_lobby_and_a_session_there_looks_like_version_1()
    {
        var (session, output, controller) = Start(rooms: true);
        await controller.JoinLobbyAsync(default);
        session.Receive(new JoinedMessage("lobby", ["bob"]), new ChatBroadcastMessage("bob", "hi") { Room = "lobby" }, new UserJoinedMessage("carol") { Room = "lobby" });
        await Submit(controller, "hello");

        Assert.That(session.Calls, Is.EqualTo(new[] { "join lobby", "send lobby hello" }));
        Assert.That(output.Lines, Is.EqualTo(new[] { "*** connected as alice", "*** currently online: bob", "<bob> hi", "*** carol joined the chat" }));
        Assert.That(controller.Completions().Nicknames, Is.EqualTo(new[] { "bob", "carol" }));
    }

    [Test]
    public async Task Rooms_switching_unread_counts_and_leaving()
    {
        var (session, output, controller) = Start(rooms: true);
        await controller.JoinLobbyAsync(default);
        session.Receive(new JoinedMessage("lobby", ["bob"]));

        await Submit(controller, "/join dev");
        session.Receive(new JoinedMessage("dev", ["carol"]));
        Assert.That(controller.CurrentRoom, Is.EqualTo("dev"), "joining makes the room current");

        await Submit(controller, "in dev");
        session.Receive(
            new ChatBroadcastMessage("bob", "psst") { Room = "lobby" },
            new ChatBroadcastMessage("bob", "again") { Room = "lobby" },
            new UserLeftMessage("bob") { Room = "lobby" });
        Assert.That(controller.Status().Render(), Is.EqualTo("[alice] [dev] lobby(2)  connected"));

        await Submit(controller, "/switch LOBBY");
        Assert.That(controller.Status().Render(), Is.EqualTo("[alice] [lobby] dev  connected"), "switching reads the room");
        await Submit(controller, "/switch nowhere", "/join dev", "/who", "/rooms", "/msg carol hi", "/leave");
        session.Receive(new LeftMessage("lobby"), new RoomListMessage([new RoomSummary("design", 1)]));

        Assert.That(session.Calls, Is.EqualTo(new[]
        {
            "join lobby", "join dev", "send dev in dev", "who dev", "rooms -", "direct carol hi", "leave dev",
        }));
        Assert.That(controller.CurrentRoom, Is.EqualTo("dev"));
        Assert.That(output.Lines, Is.EqualTo(new[]
        {
            "*** connected as alice",
            "*** currently online: bob",
            "*** joined dev (online: carol)",
            "[lobby] <bob> psst",
            "[lobby] <bob> again",
            "[lobby] *** bob left the chat",
            "!!! you are not in nowhere: /join nowhere first",
            "*** left lobby",
            "*** rooms: design (1)",
        }));
        Assert.That(controller.Completions().Rooms, Is.EqualTo(new[] { "dev", "design" }));
    }

    [Test]
    public async Task With_rooms_but_in_none_a_plain_line_is_refused()
    {
        var (session, output, controller) = Start(rooms: true);

        await Submit(controller, "anybody?");

        Assert.That(session.Calls, Is.Empty);
        Assert.That(output.Lines[^1], Is.EqualTo("!!! you are not in lobby: /join a room first"));
    }

    [Test]
    public async Task A_request_the_library_refuses_is_one_error_line_and_the_session_goes_on()
    {
        var (session, output, controller) = Start(rooms: true);
        session.Refusal = new ChatHandshakeException("no answer to join within 10 s");

        Assert.That(await controller.SubmitAsync("/join dev", default), Is.EqualTo(SubmitResult.Continue));
        Assert.That(output.Lines[^1], Is.EqualTo("!!! no answer to join within 10 s"));

        session.Refusal = new ChatConnectionException("gone");
        Assert.ThrowsAsync<ChatConnectionException>(() => controller.SubmitAsync("/rooms", default), "a lost connection is the caller's to handle");
    }

    [Test]
    public async Task A_join_fetches_the_kept_history_shows_its_last_20_and_history_shows_more()
    {
        var (session, output, controller) = Start(rooms: true);
        await controller.JoinLobbyAsync(default);
        session.Receive(new JoinedMessage("lobby", []) { Epoch = "e", LastId = 2 }, Chat("lobby", 1, "old lobby", history: true), Chat("lobby", 2, "newest lobby", history: true));
        await Submit(controller, "/join dev");
        session.Receive(new JoinedMessage("dev", ["bob"]) { Epoch = "e", LastId = 130 });
        for (var id = 101; id <= 130; id++)
        {
            session.Receive(Chat("dev", id, $"line {id}", history: true));
        }

        Assert.That(session.HistoryAsked, Is.EqualTo(new[] { ("lobby", 1000), ("dev", 1000) }), "each join asks for what /history can show");
        Assert.That(output.Lines, Is.EqualTo(new[] { "*** connected as alice", "*** joined dev (online: bob)" }
            .Concat(Enumerable.Range(111, 20).Select(id => $"(history) <bob> line {id}"))), "the lobby's history is kept, not shown; dev shows its last 20");

        session.Receive(Chat("dev", 131, "live"), Chat("lobby", 132, "live lobby"));
        output.Lines.Clear();
        await Submit(controller, "/history 3", "/history");
        Assert.That(output.Lines, Is.EqualTo(new[] { "(history) <bob> line 129", "(history) <bob> line 130", "(history) <bob> live" }
            .Concat(Enumerable.Range(112, 19).Select(id => $"(history) <bob> line {id}")).Append("(history) <bob> live")));

        output.Lines.Clear();
        await Submit(controller, "/switch lobby", "/history 1000", "/join empty");
        session.Receive(new JoinedMessage("empty", []) { Epoch = "e", LastId = 0 });
        await Submit(controller, "/history");
        Assert.That(output.Lines, Is.EqualTo(new[]
        {
            "(history) <bob> old lobby", "(history) <bob> newest lobby", "(history) <bob> live lobby",
            "*** joined empty (nobody else here)", "*** no history in empty",
        }));
        Assert.That(session.Calls, Has.None.StartsWith("send"), "/history asks the broker nothing");
    }

    [Test]
    public void A_live_chat_ends_a_replay_that_did_not_reach_its_last_id()
    {
        var (session, output, controller) = Start(rooms: true);
        _ = controller.SubmitAsync("/join dev", default);
        session.Receive(new JoinedMessage("dev", []) { Epoch = "e", LastId = 50 }, Chat("dev", 48, "replayed", history: true), Chat("dev", 51, "live"));

        Assert.That(output.Lines[^2..], Is.EqualTo(new[] { "(history) <bob> replayed", "<bob> live" }));
    }

    [Test]
    public async Task Version_1_history_shows_what_the_lobby_said_since_the_start()
    {
        var (session, output, controller) = Start(rooms: false);
        session.Receive(new ChatBroadcastMessage("bob", "one"), new ChatBroadcastMessage("carol", "two"));
        output.Lines.Clear();

        await Submit(controller, "/history 1", "/history");

        Assert.That(output.Lines, Is.EqualTo(new[] { "(history) <carol> two", "(history) <bob> one", "(history) <carol> two" }));
    }

    [Test]
    public async Task After_a_reconnect_rooms_joined_again_print_who_came_and_went_not_joined()
    {
        var (session, output, controller) = Start(rooms: true);
        await controller.JoinLobbyAsync(default);
        session.Receive(new JoinedMessage("lobby", ["bob", "carol"]));
        await Submit(controller, "/join dev");
        session.Receive(new JoinedMessage("dev", ["dave"]));
        output.Lines.Clear();

        controller.OnConnectionStatus(new ChatConnectionStatus(ChatConnectionState.Reconnecting, 1, TimeSpan.FromSeconds(1), "server closed the connection"));
        controller.OnConnectionStatus(new ChatConnectionStatus(ChatConnectionState.Connected, 1, null, null));
        session.Receive(new JoinedMessage("lobby", ["carol", "erin"]), new JoinedMessage("dev", ["dave"]));
        controller.OnResume("dev", new ChatRoomResume(Recovered: true, Replayed: 0));
        session.Receive(new UserJoinedMessage("bob") { Room = "lobby" });

        Assert.That(output.Lines, Is.EqualTo(new[]
        {
            "*** server closed the connection",
            "*** reconnecting in 1 s (attempt 1)",
            "[lobby] *** bob left the chat",
            "[lobby] *** erin joined the chat",
            "*** reconnected; 0 missed messages recovered",
            "[lobby] *** bob joined the chat",
        }), "the rejoins print no joined line, even when Connected came first");
        Assert.That(controller.Completions().Nicknames, Is.EqualTo(new[] { "dave" }));
    }

    private static ChatBroadcastMessage Chat(string room, long id, string text, bool history = false) =>
        new("bob", text) { Room = room, Id = id, Time = DateTimeOffset.UnixEpoch, History = history ? true : null };

    private static (FakeSession Session, RecordingOutput Output, SessionController Controller) Start(bool rooms, int maxLineLength = 8192)
    {
        var session = new FakeSession(rooms, maxLineLength);
        var output = new RecordingOutput();
        var controller = new SessionController(session, output);
        controller.Start();
        session.Subscribe(controller.OnMessage);
        return (session, output, controller);
    }

    private static async Task Submit(SessionController controller, params string[] lines)
    {
        foreach (var line in lines)
        {
            await controller.SubmitAsync(line, default);
        }
    }

    private sealed class RecordingOutput : ISessionOutput
    {
        public List<string> Lines { get; } = [];

        public void Show(ChatLine line) => Lines.Add(line.Text);

        public void ShowMessage(ServerMessage message, ChatLine? line)
        {
            if (line is not null)
            {
                Lines.Add(line.Text);
            }
        }

        public void StatusChanged()
        {
        }
    }

    private sealed class FakeSession(bool rooms, int maxLineLength) : IChatSession
    {
        private readonly Subject<ServerMessage> _messages = new();

        public List<string> Calls { get; } = [];

        public Exception? Refusal { get; set; }

        public string Nickname => "alice";

        public bool SupportsRooms => rooms;

        public bool SupportsDirect => rooms;

        public int MaxLineLength => maxLineLength;

        public IObservable<ServerMessage> Messages => _messages;

        public Task<ChatClientCloseReason> Completion { get; } = new TaskCompletionSource<ChatClientCloseReason>().Task;

        public void Subscribe(Action<ServerMessage> onMessage) => _messages.Subscribe(onMessage);

        public void Receive(params ServerMessage[] messages)
        {
            foreach (var message in messages)
            {
                _messages.OnNext(message);
            }
        }

        public Task SendAsync(string? room, string text, CancellationToken cancellationToken) => Record($"send {room ?? "-"} {text}");

        public List<(string Room, int History)> HistoryAsked { get; } = [];

        public Task JoinAsync(string room, CancellationToken cancellationToken) => Record($"join {room}");

        public Task JoinAsync(string room, int history, CancellationToken cancellationToken)
        {
            HistoryAsked.Add((room, history));
            return JoinAsync(room, cancellationToken);
        }

        public Task LeaveAsync(string room, CancellationToken cancellationToken) => Record($"leave {room}");

        public Task ListRoomsAsync(CancellationToken cancellationToken) => Record("rooms -");

        public Task WhoAsync(string room, CancellationToken cancellationToken) => Record($"who {room}");

        public Task DirectAsync(string nickname, string text, CancellationToken cancellationToken) => Record($"direct {nickname} {text}");

        public ValueTask DisposeAsync()
        {
            _messages.Dispose();
            return ValueTask.CompletedTask;
        }

        private Task Record(string call)
        {
            if (Refusal is { } refusal)
            {
                return Task.FromException(refusal);
            }

            Calls.Add(call);
            return Task.CompletedTask;
        }
    }
}
