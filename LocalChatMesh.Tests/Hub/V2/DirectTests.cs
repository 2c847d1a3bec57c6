using LocalChatMesh.Protocol;
using LocalChatMesh.Tests.Support;

namespace LocalChatMesh.Tests.Hub.V2;

public class DirectTests
{
    [Test]
    public void A_direct_message_reaches_the_recipient_and_echoes_to_the_sender_with_id_and_time()
    {
        using var hub = new HubHarness();
        var alice = hub.JoinV2("alice");
        var bob = hub.JoinV2("bob");
        var carol = hub.JoinV2("carol");
        alice.TakeReceived();
        bob.TakeReceived();
        carol.TakeReceived();

        alice.Send(new DirectMessage("BOB", "psst"));

        var delivered = (DirectDeliveryMessage)bob.Received.Single();
        Assert.That(delivered with { Id = null, Time = null }, Is.EqualTo(new DirectDeliveryMessage("alice", "bob", "psst")));
        Assert.That(delivered.Id, Is.GreaterThan(0));
        Assert.That(delivered.Time, Is.Not.Null);
        Assert.That(alice.Received, Is.EqualTo(bob.Received));
        Assert.That(alice.Frames[0], Is.SameAs(bob.Frames[0]), "encoded once for both ends");
        Assert.That(carol.Received, Is.Empty);
        Assert.That(hub.Events.OfType<DirectMessageEvent>().Single(), Is.EqualTo(new DirectMessageEvent(alice.Id, "alice", "bob", "psst")));
    }

    [Test]
    public void Without_meta_a_direct_message_has_no_id_or_time()
    {
        using var hub = new HubHarness();
        var alice = hub.JoinV2("alice", [ChatCapabilities.Direct]);
        var bob = hub.JoinV2("bob");
        alice.TakeReceived();
        bob.TakeReceived();

        alice.Send(new DirectMessage("bob", "hi"));

        Assert.That(alice.Lines(), Is.EqualTo(new[] { """{"type":"direct","from":"alice","to":"bob","text":"hi"}""" }));
        Assert.That(((DirectDeliveryMessage)bob.Received.Single()).Id, Is.Not.Null);
    }

    [Test]
    public void A_direct_message_to_yourself_is_delivered_once()
    {
        using var hub = new HubHarness();
        var alice = hub.JoinV2("alice");
        alice.TakeReceived();

        alice.Send(new DirectMessage("alice", "note to self"));

        Assert.That(alice.Received.Single(), Is.TypeOf<DirectDeliveryMessage>());
    }

    [TestCase("carol")]
    [TestCase("")]
    [TestCase("bob smith")]
    public void A_direct_message_to_nobody_is_refused_and_the_connection_stays(string to)
    {
        using var hub = new HubHarness();
        var alice = hub.JoinV2("alice");
        hub.JoinV2("bob");
        alice.TakeReceived();

        alice.Send(new DirectMessage(to, "hello?"));

        Assert.That(alice.Received, Is.EqualTo(new ServerMessage[] { new ErrorMessage($"no such user '{to}'") }));
        Assert.That(alice.IsOpen(), Is.True);
    }

    [Test]
    public void A_long_recipient_is_echoed_shortened()
    {
        using var hub = new HubHarness();
        var alice = hub.JoinV2("alice");
        alice.TakeReceived();

        alice.Send(new DirectMessage(new string('x', 5000), "hello?"));

        Assert.That(((ErrorMessage)alice.Received.Single()).Message, Has.Length.LessThan(80));
    }

    [Test]
    public void A_version_1_client_cannot_receive_direct_messages()
    {
        using var hub = new HubHarness();
        var alice = hub.JoinV2("alice");
        var victor = hub.Join("Victor");
        alice.TakeReceived();
        victor.TakeReceived();

        alice.Send(new DirectMessage("victor", "hi"));

        Assert.That(alice.Received, Is.EqualTo(new ServerMessage[] { new ErrorMessage("'Victor' cannot receive direct messages") }));
        Assert.That(victor.Received, Is.Empty);
    }

    [Test]
    public void A_blank_direct_message_is_ignored()
    {
        using var hub = new HubHarness();
        var alice = hub.JoinV2("alice");
        var bob = hub.JoinV2("bob");
        alice.TakeReceived();
        bob.TakeReceived();

        alice.Send(new DirectMessage("bob", "  "));
        alice.Send(new DirectMessage("nobody", ""));

        Assert.That(alice.Received, Is.Empty);
        Assert.That(bob.Received, Is.Empty);
    }

    [Test]
    public void Direct_messages_obey_the_rate_limit_like_chats()
    {
        using var hub = new HubHarness(options => options with { MaxMessagesPerSecond = 2 });
        var alice = hub.JoinV2("alice");
        var bob = hub.JoinV2("bob");
        alice.JoinRoom("dev");
        alice.TakeReceived();
        bob.TakeReceived();

        alice.Send(new DirectMessage("bob", "1"));
        alice.Chat("dev", "2");
        alice.Send(new DirectMessage("bob", "3"));
        hub.Advance(TimeSpan.FromSeconds(1));
        alice.Send(new DirectMessage("bob", "4"));

        Assert.That(bob.Received.OfType<DirectDeliveryMessage>().Select(m => m.Text), Is.EqualTo(new[] { "1", "4" }));
        Assert.That(alice.Received.OfType<ErrorMessage>().Single().Message, Does.StartWith("rate limit exceeded"));
    }

    [Test]
    public void A_direct_message_to_a_stuck_reader_is_dropped_at_its_hard_limit_and_counted()
    {
        using var hub = new HubHarness(options => options with { OutboundSoftLimitBytes = 8192, OutboundHardLimitBytes = 16384 });
        var alice = hub.JoinV2("alice");
        var bob = hub.JoinV2("bob");
        bob.IsReading = false;

        for (var i = 0; i < 100; i++)
        {
            alice.Send(new DirectMessage("bob", new string('x', 500)));
        }

        Assert.That(bob.BufferedBytes, Is.LessThanOrEqualTo(16384));
        bob.IsReading = true;
        hub.Advance(TimeSpan.FromMilliseconds(200));
        Assert.That(((ErrorMessage)bob.Received[^1]).Message, Does.Match("^you are behind by [0-9]+ messages; consider reconnecting$"));
    }
}
