using LocalChatMesh.Protocol;
using LocalChatMesh.Testing;
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
        alice.TakeReceived();
        bob.TakeReceived();

        hub.Broker.Shutdown();

        foreach (var client in new[] { alice, bob, pending })
        {
            Assert.That(client.Received, Is.EqualTo(new ServerMessage[] { new ErrorMessage("broker shutting down") }));
            Assert.That(client.ClosedGracefully, Is.True);
        }

        Assert.That(hub.Broker.Participants, Is.Empty);
    }

    [Test]
    public void A_lagging_client_still_gets_the_notice()
    {
        using var hub = new HubHarness(options => options with { OutboundSoftLimitBytes = 8192, OutboundHardLimitBytes = 9000 });
        var alice = hub.Join("alice");
        var slow = hub.Join("slow");
        slow.IsReading = false;
        for (var i = 0; i < 500; i++)
        {
            alice.Chat($"message {i}");
        }

        hub.Broker.Shutdown();

        Assert.That(slow.Received[^1], Is.EqualTo(new ErrorMessage("broker shutting down")));
    }

    [Test]
    public void A_connection_arriving_during_shutdown_is_told_too()
    {
        using var hub = new HubHarness();
        hub.Broker.Shutdown();

        var late = hub.Connect();

        Assert.That(late.Received, Is.EqualTo(new ServerMessage[] { new ErrorMessage("broker shutting down") }));
        Assert.That(late.ClosedGracefully, Is.True);
    }
}
