using System.Globalization;
using System.Text;
using LocalChatMesh.Protocol;
using LocalChatMesh.Tests.Support;

namespace LocalChatMesh.Tests.Broker;

public class RateLimitTests
{
    [Test]
    public async Task A_burst_over_the_rate_is_cut_short_with_one_notice_and_the_connection_stays()
    {
        const int Burst = 50;
        await using var broker = await TestBroker.StartAsync(o => o with { MaxMessagesPerSecond = 5 });
        await using var alice = await RawClient.JoinAsync(broker.LocalEndPoint, "alice");
        await using var bob = await RawClient.JoinAsync(broker.LocalEndPoint, "bob");
        await bob.ExpectAsync<RosterMessage>();
        Assert.That(await alice.ReceiveAsync(), Is.EqualTo(new UserJoinedMessage("bob")));

        // The whole burst in one write, then a second hello as a probe: its "already connected"
        // is not rate limited and comes after everything the burst caused.
        var burst = new StringBuilder();
        for (var n = 0; n < Burst; n++)
        {
            burst.Append(Encoding.UTF8.GetString(MessageEncoder.Encode(new ChatMessage(n.ToString(CultureInfo.InvariantCulture)))));
        }

        await alice.SendAsync(Encoding.UTF8.GetBytes(burst.ToString()));
        await alice.SendAsync(new HelloMessage("alice"));

        var aliceSaw = new List<ServerMessage>();
        while (await alice.ReceiveAsync() is var message && message != new ErrorMessage("already connected"))
        {
            aliceSaw.Add(message);
        }

        var delivered = aliceSaw.OfType<ChatBroadcastMessage>().ToList();
        var notices = aliceSaw.OfType<ErrorMessage>().ToList();
        Assert.That(delivered, Has.Count.InRange(1, Burst - 1), "some of the burst is delivered, not all");
        Assert.That(delivered.Select(m => m.Text), Is.EqualTo(Enumerable.Range(0, delivered.Count).Select(n => n.ToString(CultureInfo.InvariantCulture))), "the first ones, in order");
        Assert.That(notices, Has.Count.EqualTo(1));
        Assert.That(notices[0].Message, Does.StartWith("rate limit exceeded"));
        Assert.That(aliceSaw, Has.Count.EqualTo(delivered.Count + 1));

        // Bob got exactly what was delivered and nothing of the notice.
        foreach (var chat in delivered)
        {
            Assert.That(await bob.ReceiveAsync(), Is.EqualTo(chat));
        }

        // The rule is about real time: once a token has refilled (200 ms at 5 per second; waiting
        // longer is always safe), alice may speak again on the same connection.
        await Task.Delay(TimeSpan.FromSeconds(1));
        await alice.SendChatAsync("later");
        await alice.ExpectChatAsync("alice", "later");
        await bob.ExpectChatAsync("alice", "later");
    }
}
