using LocalChatMesh.Cli.Terminal;
using LocalChatMesh.Protocol;

namespace LocalChatMesh.Tests.Cli;

/// <summary>The lines of PROTOCOL.md, "Terminal client" (v1) and "Terminal client, version 2".</summary>
public class SessionRendererTests
{
    private static readonly RenderContext InLobby = new("alice", "lobby");

    private static readonly object[] Version1Lines =
    [
        new object[] { new WelcomeMessage("alice"), "*** connected as alice" },
        new object[] { new RosterMessage(["bob", "carol"]), "*** currently online: bob, carol" },
        new object[] { new UserJoinedMessage("dave"), "*** dave joined the chat" },
        new object[] { new UserLeftMessage("bob"), "*** bob left the chat" },
        new object[] { new ChatBroadcastMessage("alice", "hello world"), "<alice> hello world" },
        new object[] { new ErrorMessage("nickname 'alice' is already in use"), "!!! nickname 'alice' is already in use" },
    ];

    [TestCaseSource(nameof(Version1Lines))]
    public void Messages_without_rooms_render_exactly_as_version_1(ServerMessage message, string expected)
    {
        Assert.Multiple(() =>
        {
            Assert.That(SessionRenderer.Render(message, InLobby)!.Text, Is.EqualTo(expected));
            Assert.That(SessionRenderer.Render(message, InLobby)!.Text, Is.EqualTo(TerminalRenderer.Render(message).Text), "the same as the v1 renderer");
        });
    }

    private static readonly object[] Version2Lines =
    [
        new object[] { new ChatBroadcastMessage("bob", "hi") { Room = "lobby" }, "<bob> hi" },
        new object[] { new ChatBroadcastMessage("bob", "hi") { Room = "LOBBY" }, "<bob> hi" },
        new object[] { new ChatBroadcastMessage("bob", "hi") { Room = "dev" }, "[dev] <bob> hi" },
        new object[] { new ChatBroadcastMessage("bob", "old") { Room = "lobby", History = true }, "(history) <bob> old" },
        new object[] { new ChatBroadcastMessage("bob", "old") { Room = "dev", History = true }, "(history) [dev] <bob> old" },
        new object[] { new DirectDeliveryMessage("bob", "alice", "psst"), "*bob* psst" },
        new object[] { new DirectDeliveryMessage("alice", "bob", "psst"), "-> *bob* psst" },
        new object[] { new DirectDeliveryMessage("alice", "alice", "note to self"), "*alice* note to self" },
        new object[] { new JoinedMessage("dev", ["bob", "carol"]), "*** joined dev (online: bob, carol)" },
        new object[] { new JoinedMessage("dev", []), "*** joined dev (nobody else here)" },
        new object[] { new JoinedMessage("lobby", ["bob", "carol"]), "*** currently online: bob, carol" },
        new object[] { new LeftMessage("dev"), "*** left dev" },
        new object[] { new UserJoinedMessage("dave") { Room = "lobby" }, "*** dave joined the chat" },
        new object[] { new UserJoinedMessage("dave") { Room = "dev" }, "[dev] *** dave joined the chat" },
        new object[] { new UserLeftMessage("dave") { Room = "dev" }, "[dev] *** dave left the chat" },
        new object[] { new RosterMessage(["alice", "bob"]) { Room = "dev" }, "*** in dev: alice, bob" },
        new object[] { new RoomListMessage([new RoomSummary("dev", 2), new RoomSummary("lobby", 3)]), "*** rooms: dev (2), lobby (3)" },
        new object[] { new RoomListMessage([]), "*** no rooms" },
    ];

    [TestCaseSource(nameof(Version2Lines))]
    public void Version_2_messages_render_as_the_protocol_says(ServerMessage message, string expected)
    {
        Assert.That(SessionRenderer.Render(message, InLobby)!.Text, Is.EqualTo(expected));
    }

    [Test]
    public void Joining_an_empty_lobby_prints_nothing_as_a_version_1_client_would()
    {
        Assert.That(SessionRenderer.Render(new JoinedMessage("lobby", []), InLobby), Is.Null);
    }

    [Test]
    public void The_current_room_decides_which_lines_are_tagged()
    {
        var inDev = InLobby with { CurrentRoom = "dev" };

        Assert.That(SessionRenderer.Render(new ChatBroadcastMessage("bob", "hi") { Room = "dev" }, inDev)!.Text, Is.EqualTo("<bob> hi"));
        Assert.That(SessionRenderer.Render(new ChatBroadcastMessage("bob", "hi") { Room = "lobby" }, inDev)!.Text, Is.EqualTo("[lobby] <bob> hi"));
    }

    [Test]
    public void Chat_lines_carry_the_sender_span_time_history_and_mentions()
    {
        var time = new DateTimeOffset(2026, 12, 1, 7, 20, 57, 123, TimeSpan.Zero);
        var line = SessionRenderer.Render(new ChatBroadcastMessage("bob", "hey Alice, look") { Room = "dev", Time = time, History = true }, InLobby)!;

        Assert.Multiple(() =>
        {
            Assert.That(line.Text[line.Sender], Is.EqualTo("<bob>"));
            Assert.That(line.Nickname, Is.EqualTo("bob"));
            Assert.That(line.Time, Is.EqualTo(time));
            Assert.That(line.IsHistory, Is.True);
            Assert.That(line.Mentions, Is.True);
            Assert.That(line.Kind, Is.EqualTo(LineKind.Chat));
        });
    }

    [TestCase("bob", "alice: hi", true)]
    [TestCase("bob", "hi ALICE", true)]
    [TestCase("bob", "@alice!", true)]
    [TestCase("bob", "malice aforethought", false)]
    [TestCase("bob", "alice_2 is not me", false)]
    [TestCase("alice", "I am alice", false)]
    public void Mentions_are_whole_words_from_somebody_else(string sender, string text, bool expected)
    {
        Assert.That(SessionRenderer.Mentions(sender, text, "alice"), Is.EqualTo(expected));
    }

    [Test]
    public void Hostile_text_is_neutralised_in_version_2_fields_too()
    {
        var lines = new ServerMessage[]
        {
            new ChatBroadcastMessage("eve", "x") { Room = "d\u001b[2Jev" },
            new DirectDeliveryMessage("e\u202eve", "alice", "\u0007"),
            new JoinedMessage("r\u0000m", ["b\u001bob"]),
            new RoomListMessage([new RoomSummary("\u009b31m", 1)]),
        }.Select(m => SessionRenderer.Render(m, InLobby)!.Text);

        Assert.That(lines, Is.EqualTo(new[]
        {
            @"[d\x1b[2Jev] <eve> x",
            @"*e\u202eve* \x07",
            @"*** joined r\x00m (online: b\x1bob)",
            @"*** rooms: \u009b31m (1)",
        }));
    }
}
