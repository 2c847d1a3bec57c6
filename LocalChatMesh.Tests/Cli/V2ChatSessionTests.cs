using LocalChatMesh.Cli.Terminal;
using LocalChatMesh.Protocol;
using LocalChatMesh.Tests.Support;

namespace LocalChatMesh.Tests.Cli;

/// <summary>
/// The terminal's adapter over the version 2 client (<see cref="V2ChatSession"/>) under the session
/// logic, against a scripted broker: a refusal the broker sends prints once, although the library
/// both publishes it and throws it; a request returns only after its answer has been shown.
/// </summary>
public class V2ChatSessionTests
{
    [Test]
    public async Task It_asks_for_every_capability_and_joins_the_lobby_before_saying_connected()
    {
        using var broker = FakeBroker.Start();
        var connecting = V2ChatSession.ConnectAsync(broker.EndPoint, "alice", default);
        using var connection = await broker.AcceptAndGrantAsync();
        await using var session = await connecting.WaitAsync(FakeBroker.Deadline);
        var (output, controller, subscription) = Start(session);
        using var _ = subscription;

        var joining = controller.JoinLobbyAsync(default);
        var join = await connection.ReadMessageAsync<JoinMessage>();
        Assert.That(output.Lines, Is.Empty, "connected means in the lobby, as with a version 1 broker");
        await connection.SendAsync(new JoinedMessage("lobby", ["bob"]));
        await joining.WaitAsync(FakeBroker.Deadline);

        Assert.That(connection.Hello!.Capabilities, Is.EqualTo(ChatCapabilities.All));
        Assert.That(join, Is.EqualTo(new JoinMessage("lobby") { History = SessionController.KeptHistory }), "the lobby's history is fetched for /history, and not shown: the session looks like version 1");
        Assert.That(output.Lines, Is.EqualTo(new[] { "*** connected as alice", "*** currently online: bob" }));
        Assert.That(session.MaxLineLength, Is.EqualTo(8 * 1024));
    }

    [TestCase("/join dev", "too many rooms")]
    [TestCase("/join dev", "already in room 'dev'")]
    [TestCase("/who nowhere", "not in room 'nowhere'")]
    [TestCase("/rooms", "unknown message type 'rooms'")]
    public async Task A_refusal_from_the_broker_prints_one_line_before_the_command_returns(string command, string refusal)
    {
        using var broker = FakeBroker.Start();
        var (session, connection, output, controller, subscription) = await JoinedAsync(broker);
        await using var _ = session;
        using var __ = connection;
        using var ___ = subscription;

        var submitting = controller.SubmitAsync(command, default);
        await connection.ReadLineAsync();
        await connection.SendAsync(new ErrorMessage(refusal));

        Assert.That(await submitting.WaitAsync(FakeBroker.Deadline), Is.EqualTo(SubmitResult.Continue));
        Assert.That(output.Lines.Skip(2), Is.EqualTo(new[] { $"!!! {refusal}" }), "once, and already shown when the command returns");
    }

    [Test]
    public async Task The_adapter_swallows_a_refusal_the_broker_sent_and_it_arrives_once_on_messages()
    {
        using var broker = FakeBroker.Start();
        var (session, connection, output, _, subscription) = await JoinedAsync(broker);
        await using var __ = session;
        using var ___ = connection;
        using var ____ = subscription;

        var asking = session.WhoAsync("nowhere", default);
        await connection.ReadMessageAsync<WhoMessage>();
        await connection.SendAsync(new ErrorMessage("not in room 'nowhere'"));

        Assert.DoesNotThrowAsync(() => asking.WaitAsync(FakeBroker.Deadline));
        Assert.That(output.Messages.OfType<ErrorMessage>(), Is.EqualTo(new[] { new ErrorMessage("not in room 'nowhere'") }));
    }

    [Test]
    public async Task A_request_without_an_answer_in_time_prints_one_line_of_its_own()
    {
        using var broker = FakeBroker.Start();
        var (session, connection, output, controller, subscription) = await JoinedAsync(broker, ChatClientOptions.Default with { RequestTimeout = TimeSpan.FromMilliseconds(200) });
        await using var _ = session;
        using var __ = connection;
        using var ___ = subscription;

        Assert.That(await controller.SubmitAsync("/rooms", default), Is.EqualTo(SubmitResult.Continue));

        Assert.That(output.Lines.Skip(2), Is.EqualTo(new[] { "!!! the broker did not answer 'rooms' within 0.2 s" }));
    }

    [Test]
    public async Task Join_asks_for_history_and_returns_after_the_replay_has_been_shown()
    {
        using var broker = FakeBroker.Start();
        var (session, connection, output, controller, subscription) = await JoinedAsync(broker);
        await using var _ = session;
        using var __ = connection;
        using var ___ = subscription;

        var submitting = controller.SubmitAsync("/join dev", default);
        var join = await connection.ReadMessageAsync<JoinMessage>();
        await connection.SendAsync(new JoinedMessage("dev", ["bob"]) { Epoch = "e1", LastId = 7 });
        await connection.SendAsync(
            new ChatBroadcastMessage("bob", "older") { Room = "dev", Id = 6, History = true },
            new ChatBroadcastMessage("bob", "newest") { Room = "dev", Id = 7, History = true });
        await submitting.WaitAsync(FakeBroker.Deadline);

        Assert.That(join.History, Is.EqualTo(SessionController.KeptHistory), "what /history can show is fetched; the last 20 are shown");
        Assert.That(output.Lines.Skip(2), Is.EqualTo(new[] { "*** joined dev (online: bob)", "(history) <bob> older", "(history) <bob> newest" }));
        Assert.That(controller.CurrentRoom, Is.EqualTo("dev"));
    }

    [Test]
    public async Task Leaving_a_room_not_joined_says_so_and_sends_nothing()
    {
        using var broker = FakeBroker.Start();
        var (session, connection, output, controller, subscription) = await JoinedAsync(broker);
        await using var _ = session;
        using var __ = connection;
        using var ___ = subscription;

        await controller.SubmitAsync("/leave dev", default);
        await controller.SubmitAsync("hi", default);

        Assert.That(output.Lines.Skip(2), Is.EqualTo(new[] { "!!! not in room 'dev'" }));
        Assert.That(await connection.ReadMessageAsync<ChatMessage>(), Is.EqualTo(new ChatMessage("hi") { Room = "lobby" }), "the next line the broker reads is the chat");
    }

    private static async Task<(V2ChatSession Session, FakeBrokerConnection Connection, RecordingOutput Output, SessionController Controller, IDisposable Subscription)> JoinedAsync(
        FakeBroker broker,
        ChatClientOptions? options = null)
    {
        var (client, connection) = await broker.ConnectAsync(ChatCapabilities.All, options: options);
        var session = new V2ChatSession(client);
        var (output, controller, subscription) = Start(session);
        var joining = controller.JoinLobbyAsync(default);
        await connection.ReadMessageAsync<JoinMessage>();
        await connection.SendAsync(new JoinedMessage("lobby", ["bob"]));
        await joining.WaitAsync(FakeBroker.Deadline);
        Assert.That(output.Lines, Is.EqualTo(new[] { "*** connected as alice", "*** currently online: bob" }));
        return (session, connection, output, controller, subscription);
    }

    private static (RecordingOutput Output, SessionController Controller, IDisposable Subscription) Start(IChatSession session)
    {
        var output = new RecordingOutput();
        var controller = new SessionController(session, output);
        controller.Start();
        return (output, controller, session.Messages.Subscribe(controller.OnMessage));
    }

    private sealed class RecordingOutput : ISessionOutput
    {
        private readonly Lock _lock = new();
        private readonly List<string> _lines = [];
        private readonly List<ServerMessage> _messages = [];

        public IReadOnlyList<string> Lines
        {
            get
            {
                lock (_lock)
                {
                    return [.. _lines];
                }
            }
        }

        public IReadOnlyList<ServerMessage> Messages
        {
            get
            {
                lock (_lock)
                {
                    return [.. _messages];
                }
            }
        }

        public void Show(ChatLine line)
        {
            lock (_lock)
            {
                _lines.Add(line.Text);
            }
        }

        public void ShowMessage(ServerMessage message, ChatLine? line)
        {
            lock (_lock)
            {
                _messages.Add(message);
                if (line is not null)
                {
                    _lines.Add(line.Text);
                }
            }
        }

        public void StatusChanged()
        {
        }
    }
}
