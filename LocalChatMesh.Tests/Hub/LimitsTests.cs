using LocalChatMesh.Protocol;
using LocalChatMesh.Testing;
using LocalChatMesh.Tests.Support;

namespace LocalChatMesh.Tests.Hub;

public class LimitsTests
{
    [Test]
    public void Over_the_maximum_a_connection_is_told_the_server_is_full()
    {
        using var hub = new HubHarness(options => options with { MaxClients = 2 });
        hub.Join("alice");
        var pending = hub.Connect();

        var third = hub.Connect();

        Assert.That(third.Received, Is.EqualTo(new ServerMessage[] { new ErrorMessage("server is full") }));
        Assert.That(third.ClosedGracefully, Is.True);
        Assert.That(pending.IsOpen(), Is.True, "a connection mid-handshake counts, and keeps its place");
    }

    [Test]
    public void A_place_freed_by_a_leaver_can_be_taken()
    {
        using var hub = new HubHarness(options => options with { MaxClients = 1 });
        hub.Join("alice").Close();

        hub.Join("bob");
    }

    [Test]
    public void The_rate_limit_drops_a_flood_with_one_notice_and_refills_over_virtual_time()
    {
        using var hub = new HubHarness(options => options with { MaxMessagesPerSecond = 5 });
        var flooder = hub.Join("flooder");
        var bob = hub.Join("bob");
        flooder.TakeReceived();
        bob.TakeReceived();

        for (var i = 0; i < 50; i++)
        {
            flooder.Chat($"flood {i}");
        }

        var seen = bob.TakeReceived().Cast<ChatBroadcastMessage>().Select(m => m.Text);
        Assert.That(seen, Is.EqualTo(Enumerable.Range(0, 5).Select(i => $"flood {i}")), "a burst of one second's worth passes");
        Assert.That(flooder.Received.OfType<ErrorMessage>().Select(e => e.Message), Is.EqualTo(new[]
        {
            "rate limit exceeded: at most 5 messages per second; messages are dropped until you slow down",
        }));
        Assert.That(flooder.IsOpen(), Is.True);

        hub.Advance(TimeSpan.FromSeconds(1));
        for (var i = 0; i < 6; i++)
        {
            flooder.Chat($"later {i}");
        }

        Assert.That(bob.Received.Cast<ChatBroadcastMessage>().Select(m => m.Text), Is.EqualTo(Enumerable.Range(0, 5).Select(i => $"later {i}")));
        Assert.That(flooder.Received.OfType<ErrorMessage>().Count(), Is.EqualTo(2), "a new run of refusals gets a new notice");
    }

    [Test]
    public void At_the_rate_limit_nothing_is_dropped()
    {
        using var hub = new HubHarness(options => options with { MaxMessagesPerSecond = 10 });
        var steady = hub.Join("steady");

        for (var i = 0; i < 1000; i++)
        {
            steady.Chat($"tick {i}");
            hub.Advance(TimeSpan.FromMilliseconds(100));
        }

        Assert.That(steady.Received.OfType<ChatBroadcastMessage>().Count(), Is.EqualTo(1000));
        Assert.That(steady.Received.OfType<ErrorMessage>(), Is.Empty);
    }
}
