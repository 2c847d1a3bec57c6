using LocalChatMesh.Hub;
using LocalChatMesh.Protocol;
using LocalChatMesh.Testing;
using LocalChatMesh.Tests.Support;

namespace LocalChatMesh.Tests.Hub;

public class HandshakeTests
{
    [Test]
    public void A_hello_is_welcomed_with_the_trimmed_nickname()
    {
        using var hub = new HubHarness();
        var alice = hub.Connect();

        alice.Send(new HelloMessage("  alice \t"));

        Assert.That(alice.Received, Is.EqualTo(new ServerMessage[] { new WelcomeMessage("alice") }));
        Assert.That(hub.Broker.Participants, Is.EqualTo(new[] { "alice" }));
    }

    [TestCase("", "nickname cannot be empty")]
    [TestCase("   ", "nickname cannot be empty")]
    [TestCase("al ice", "nickname cannot contain control, format or whitespace characters")]
    [TestCase("al\u0007ice", "nickname cannot contain control, format or whitespace characters")]
    [TestCase("\u202Eecila", "nickname cannot contain control, format or whitespace characters")]
    [TestCase("ali\u200Bce", "nickname cannot contain control, format or whitespace characters")]
    [TestCase("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "nickname cannot be longer than 32 characters")]
    public void A_bad_nickname_is_refused_and_the_connection_closed(string nickname, string expected)
    {
        using var hub = new HubHarness();
        var client = hub.Connect();

        client.Send(new HelloMessage(nickname));

        Assert.That(client.Received, Is.EqualTo(new ServerMessage[] { new ErrorMessage(expected) }));
        Assert.That(client.ClosedGracefully, Is.True);
        Assert.That(hub.Broker.Participants, Is.Empty);
    }

    [Test]
    public void Thirty_two_characters_are_allowed_even_outside_the_basic_plane()
    {
        using var hub = new HubHarness();

        hub.Join(string.Concat(Enumerable.Repeat("🙂", 32)));
    }

    [TestCase("alice")]
    [TestCase("Alice")]
    [TestCase("ALICE")]
    [TestCase(" alice ")]
    [TestCase("ａｌｉｃｅ")]
    public void A_nickname_in_use_is_refused_whatever_its_case(string nickname)
    {
        using var hub = new HubHarness();
        var alice = hub.Join("alice");
        var other = hub.Connect();

        other.Send(new HelloMessage(nickname));

        Assert.That(other.Received, Is.EqualTo(new ServerMessage[] { new ErrorMessage($"nickname '{nickname.Trim()}' is already in use") }));
        Assert.That(other.ClosedGracefully, Is.True);
        Assert.That(alice.TakeReceived(), Has.None.InstanceOf<UserJoinedMessage>());
    }

    [Test]
    public void A_nickname_is_free_again_once_its_owner_left()
    {
        using var hub = new HubHarness();
        hub.Join("alice").Close();

        hub.Join("Alice");

        Assert.That(hub.Broker.Participants, Is.EqualTo(new[] { "Alice" }));
    }

    [Test]
    public void A_chat_before_hello_is_refused_and_closes()
    {
        using var hub = new HubHarness();
        var client = hub.Connect();

        client.Chat("hi");

        Assert.That(client.Received, Is.EqualTo(new ServerMessage[] { new ErrorMessage("expected a hello message first") }));
        Assert.That(client.ClosedGracefully, Is.True);
    }

    [Test]
    public void An_unreadable_first_line_is_refused_with_its_problem_and_closes()
    {
        using var hub = new HubHarness();
        var client = hub.Connect();

        client.Send(new UnreadableLine("missing field 'type'"));

        Assert.That(client.Received, Is.EqualTo(new ServerMessage[] { new ErrorMessage("missing field 'type'") }));
        Assert.That(client.ClosedGracefully, Is.True);
    }

    [Test]
    public void Messages_after_a_refusal_are_ignored()
    {
        using var hub = new HubHarness();
        var client = hub.Connect();
        client.Chat("hi");

        client.Send(new HelloMessage("alice"));

        Assert.That(client.Received, Has.Count.EqualTo(1));
        Assert.That(hub.Broker.Participants, Is.Empty);
    }

    [Test]
    public void A_second_hello_is_answered_and_the_connection_stays()
    {
        using var hub = new HubHarness();
        var alice = hub.Join("alice");
        alice.TakeReceived();

        alice.Send(new HelloMessage("bob"));
        alice.Chat("still here");

        Assert.That(alice.Received, Is.EqualTo(new ServerMessage[]
        {
            new ErrorMessage("already connected"),
            new ChatBroadcastMessage("alice", "still here"),
        }));
        Assert.That(alice.IsOpen(), Is.True);
    }

    [Test]
    public void The_handshake_timeout_closes_a_silent_connection_exactly_on_time()
    {
        using var hub = new HubHarness(options => options with { HandshakeTimeout = TimeSpan.FromSeconds(10) });
        var silent = hub.Connect();

        hub.Advance(TimeSpan.FromSeconds(10) - TimeSpan.FromTicks(1));
        Assert.That(silent.Frames, Is.Empty);
        Assert.That(silent.IsOpen(), Is.True);

        hub.Advance(TimeSpan.FromTicks(1));
        Assert.That(silent.Received, Is.EqualTo(new ServerMessage[] { new ErrorMessage("handshake timed out: no hello within 10 s") }));
        Assert.That(silent.ClosedGracefully, Is.True);
        Assert.That(hub.Events.OfType<ClientDisconnectedEvent>().Single().Reason, Is.EqualTo(DisconnectReason.HandshakeTimeout));
    }

    [Test]
    public void A_joined_client_never_times_out()
    {
        using var hub = new HubHarness();
        var alice = hub.Join("alice");

        hub.Advance(TimeSpan.FromHours(1));

        Assert.That(alice.IsOpen(), Is.True);
        Assert.That(alice.Received, Has.Count.EqualTo(1));
    }
}
