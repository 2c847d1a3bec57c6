using LocalChatMesh.Protocol;
using LocalChatMesh.Tests.Support;

namespace LocalChatMesh.Tests.Hub;

public class ShutdownTests
{
    [Test]
    public void Every_connection_is_told_and_closed_after_its_queue_without_leave_notices()
    {
        using var hub = new HubHarness();
        var alice = hub.Join("alice");
        var bob = hub.Join("bob");
        var pending = hub.Connect();
        alice.Sink.TakeMessages();
        bob.Sink.TakeMessages();

        hub.Hub.Shutdown();

        foreach (var client in new[] { alice, bob, pending })
        {
            Assert.That(client.Sink.Messages, Is.EqualTo(new ServerMessage[] { new ErrorMessage("broker shutting down") }));
            Assert.That(client.Sink.Closed, Is.True);
        }

        Assert.That(hub.Hub.Participants, Is.Empty);
    }

    [Test]
    public void A_lagging_client_still_gets_the_notice()
    {
        using var hub = new HubHarness(options => options with { OutboundSoftLimitBytes = 8192, OutboundHardLimitBytes = 9000 });
        var alice = hub.Join("alice");
        var slow = hub.Join("slow");
        slow.Sink.Stuck = true;
        for (var i = 0; i < 500; i++)
        {
            alice.Chat($"message {i}");
        }

        hub.Hub.Shutdown();

        Assert.That(slow.Sink.Messages[^1], Is.EqualTo(new ErrorMessage("broker shutting down")));
    }

    [Test]
    public void A_connection_arriving_during_shutdown_is_told_too()
    {
        using var hub = new HubHarness();
        hub.Hub.Shutdown();

        var late = hub.Connect();

        Assert.That(late.Sink.Messages, Is.EqualTo(new ServerMessage[] { new ErrorMessage("broker shutting down") }));
        Assert.That(late.Sink.Closed, Is.True);
    }
}
