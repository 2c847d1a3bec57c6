using LocalChatMesh.Hub;
using LocalChatMesh.Protocol;
using LocalChatMesh.Testing;
using LocalChatMesh.Tests.Support;

namespace LocalChatMesh.Tests.Hub;

public class JoinAndChatTests
{
    [Test]
    public void The_first_to_join_gets_no_roster()
    {
        using var hub = new HubHarness();

        var alice = hub.Join("alice");

        Assert.That(alice.Received, Is.EqualTo(new ServerMessage[] { new WelcomeMessage("alice") }));
    }

    [Test]
    public void A_joiner_gets_everybody_else_in_join_order_and_the_others_hear_of_it()
    {
        using var hub = new HubHarness();
        var bob = hub.Join("bob");
        var carol = hub.Join("carol");
        bob.TakeReceived();
        carol.TakeReceived();

        var dave = hub.Join("dave");

        Assert.That(dave.Received, Is.EqualTo(new ServerMessage[] { new WelcomeMessage("dave"), new RosterMessage(["bob", "carol"]) }));
        Assert.That(bob.Received, Is.EqualTo(new ServerMessage[] { new UserJoinedMessage("dave") }));
        Assert.That(carol.Received, Is.EqualTo(new ServerMessage[] { new UserJoinedMessage("dave") }));
    }

    [Test]
    public void A_chat_reaches_everybody_including_its_sender()
    {
        using var hub = new HubHarness();
        var alice = hub.Join("alice");
        var bob = hub.Join("bob");
        alice.TakeReceived();
        bob.TakeReceived();

        alice.Chat("hello world");

        var expected = new ServerMessage[] { new ChatBroadcastMessage("alice", "hello world") };
        Assert.That(alice.Received, Is.EqualTo(expected));
        Assert.That(bob.Received, Is.EqualTo(expected));
    }

    [Test]
    public void A_broadcast_is_encoded_once_and_shared()
    {
        using var hub = new HubHarness();
        var alice = hub.Join("alice");
        var bob = hub.Join("bob");

        alice.Chat("shared");

        Assert.That(alice.Frames[^1], Is.SameAs(bob.Frames[^1]));
    }

    [TestCase("")]
    [TestCase("   ")]
    [TestCase("\t \u00A0\u2003")]
    public void A_blank_chat_is_ignored(string text)
    {
        using var hub = new HubHarness();
        var alice = hub.Join("alice");
        alice.TakeReceived();

        alice.Chat(text);

        Assert.That(alice.Frames, Is.Empty);
        Assert.That(hub.Events.OfType<ChatEvent>(), Is.Empty);
    }

    [Test]
    public void An_unreadable_line_after_the_handshake_is_answered_and_the_connection_stays()
    {
        using var hub = new HubHarness();
        var alice = hub.Join("alice");
        alice.TakeReceived();

        alice.Send(new UnreadableLine("unknown message type 'dance'"));

        Assert.That(alice.Received, Is.EqualTo(new ServerMessage[] { new ErrorMessage("unknown message type 'dance'") }));
        Assert.That(alice.IsOpen(), Is.True);
    }

    [Test]
    public void A_leaver_is_announced_to_those_who_remain_and_its_queue_is_flushed()
    {
        using var hub = new HubHarness();
        var alice = hub.Join("alice");
        var bob = hub.Join("bob");
        alice.TakeReceived();

        bob.Close();

        Assert.That(alice.Received, Is.EqualTo(new ServerMessage[] { new UserLeftMessage("bob") }));
        Assert.That(bob.ClosedGracefully, Is.True);
        Assert.That(hub.Broker.Participants, Is.EqualTo(new[] { "alice" }));
    }

    [Test]
    public void A_connection_that_fails_is_announced_and_aborted()
    {
        using var hub = new HubHarness();
        var alice = hub.Join("alice");
        var bob = hub.Join("bob");
        alice.TakeReceived();

        bob.Fail(new IOException("connection reset"));

        Assert.That(alice.Received, Is.EqualTo(new ServerMessage[] { new UserLeftMessage("bob") }));
        Assert.That(bob.Aborted, Is.True);
        Assert.That(hub.Events.OfType<ClientDisconnectedEvent>().Single(), Is.EqualTo(new ClientDisconnectedEvent(bob.Id, "bob", DisconnectReason.TransportError)));
    }

    [Test]
    public void Nobody_hears_of_a_client_that_left_before_joining()
    {
        using var hub = new HubHarness();
        var alice = hub.Join("alice");
        alice.TakeReceived();

        hub.Connect().Close();

        Assert.That(alice.Frames, Is.Empty);
    }

    [Test]
    public void An_over_long_line_is_answered_and_closes_the_connection()
    {
        using var hub = new HubHarness();
        var alice = hub.Join("alice");
        var bob = hub.Join("bob");
        alice.TakeReceived();
        bob.TakeReceived();

        bob.Fail(new LineTooLongException(8192));

        Assert.That(bob.Received, Is.EqualTo(new ServerMessage[] { new ErrorMessage("line exceeds the limit of 8192 bytes") }));
        Assert.That(bob.ClosedGracefully, Is.True);
        Assert.That(alice.Received, Is.EqualTo(new ServerMessage[] { new UserLeftMessage("bob") }));
    }

    [Test]
    public void Every_client_sees_joins_leaves_and_chats_in_one_order()
    {
        using var hub = new HubHarness();
        var alice = hub.Join("alice");
        var bob = hub.Join("bob");
        alice.TakeReceived();
        bob.TakeReceived();

        alice.Chat("1");
        var carol = hub.Join("carol");
        bob.Chat("2");
        carol.Chat("3");
        carol.Close();
        alice.Chat("4");

        var expected = new ServerMessage[]
        {
            new ChatBroadcastMessage("alice", "1"),
            new UserJoinedMessage("carol"),
            new ChatBroadcastMessage("bob", "2"),
            new ChatBroadcastMessage("carol", "3"),
            new UserLeftMessage("carol"),
            new ChatBroadcastMessage("alice", "4"),
        };
        Assert.That(alice.Received, Is.EqualTo(expected));
        Assert.That(bob.Received, Is.EqualTo(expected));
        Assert.That(carol.Received, Is.EqualTo(new ServerMessage[]
        {
            new WelcomeMessage("carol"),
            new RosterMessage(["alice", "bob"]),
            new ChatBroadcastMessage("bob", "2"),
            new ChatBroadcastMessage("carol", "3"),
        }));
    }

    [Test]
    public void The_events_tell_an_embedding_app_what_happened()
    {
        using var hub = new HubHarness();
        var alice = hub.Join("alice");
        alice.Chat("hi");
        alice.Close();

        Assert.That(hub.Events, Is.EqualTo(new BrokerEvent[]
        {
            new ClientConnectedEvent(alice.Id, null),
            new ClientJoinedEvent(alice.Id, "alice"),
            new RoomJoinedEvent(alice.Id, "alice", "lobby"),
            new ChatEvent(alice.Id, "alice", "hi") { Room = "lobby", Id = 1 },
            new RoomLeftEvent(alice.Id, "alice", "lobby"),
            new ClientDisconnectedEvent(alice.Id, "alice", DisconnectReason.ClientClosed),
        }));
    }

    [Test]
    public void An_observer_that_throws_does_not_break_the_hub()
    {
        using var hub = new HubHarness();
        using var faulty = hub.Broker.Events.Subscribe(_ => throw new InvalidOperationException("observer bug"));

        var alice = hub.Join("alice");
        alice.Chat("still works");

        Assert.That(alice.Received[^1], Is.EqualTo(new ChatBroadcastMessage("alice", "still works")));
    }
}
