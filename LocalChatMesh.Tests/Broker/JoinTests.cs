using System.Globalization;
using LocalChatMesh.Protocol;
using LocalChatMesh.Tests.Support;

namespace LocalChatMesh.Tests.Broker;

public class JoinTests
{
    [Test]
    public async Task No_roster_is_sent_to_the_first_client()
    {
        await using var broker = await TestBroker.StartAsync();
        await using var alice = await RawClient.JoinAsync(broker.LocalEndPoint, "alice");

        await alice.SendChatAsync("marker");

        // The marker comes straight after the welcome: nothing, no roster, was in between.
        await alice.ExpectChatAsync("alice", "marker");
    }

    [Test]
    public async Task The_roster_lists_everybody_else_in_join_order_and_the_others_hear_of_the_join()
    {
        await using var broker = await TestBroker.StartAsync();
        await using var alice = await RawClient.JoinAsync(broker.LocalEndPoint, "alice");

        await using var bob = await RawClient.JoinAsync(broker.LocalEndPoint, "bob");
        Assert.That(await bob.ReceiveAsync(), Is.EqualTo(new RosterMessage(["alice"])));
        Assert.That(await alice.ReceiveAsync(), Is.EqualTo(new UserJoinedMessage("bob")));

        await using var carol = await RawClient.JoinAsync(broker.LocalEndPoint, "carol");
        Assert.That(await carol.ReceiveAsync(), Is.EqualTo(new RosterMessage(["alice", "bob"])));
        Assert.That(await alice.ReceiveAsync(), Is.EqualTo(new UserJoinedMessage("carol")));
        Assert.That(await bob.ReceiveAsync(), Is.EqualTo(new UserJoinedMessage("carol")));

        // The joiner is not told of its own join: its next message is the marker.
        await carol.SendChatAsync("marker");
        await carol.ExpectChatAsync("carol", "marker");
        await alice.ExpectChatAsync("carol", "marker");
        await bob.ExpectChatAsync("carol", "marker");
    }

    [Test]
    public async Task A_client_that_rejoins_goes_to_the_end_of_the_roster()
    {
        await using var broker = await TestBroker.StartAsync();
        var alice = await RawClient.JoinAsync(broker.LocalEndPoint, "alice");
        await using var bob = await RawClient.JoinAsync(broker.LocalEndPoint, "bob");
        await using var carol = await RawClient.JoinAsync(broker.LocalEndPoint, "carol");
        await carol.ExpectAsync<RosterMessage>();
        Assert.That(await bob.ReceiveAsync(), Is.EqualTo(new RosterMessage(["alice"])));
        Assert.That(await bob.ReceiveAsync(), Is.EqualTo(new UserJoinedMessage("carol")));

        await alice.DisposeAsync();
        Assert.That(await bob.ReceiveAsync(), Is.EqualTo(new UserLeftMessage("alice")));
        await using var alice2 = await RawClient.JoinAsync(broker.LocalEndPoint, "alice");
        await using var dave = await RawClient.JoinAsync(broker.LocalEndPoint, "dave");

        Assert.That(await alice2.ReceiveAsync(), Is.EqualTo(new RosterMessage(["bob", "carol"])));
        Assert.That(await dave.ReceiveAsync(), Is.EqualTo(new RosterMessage(["bob", "carol", "alice"])));
        Assert.That(broker.Participants, Is.EqualTo(new[] { "bob", "carol", "alice", "dave" }));
    }

    [Test]
    public async Task A_client_joining_during_a_stream_of_chats_sees_a_contiguous_suffix_of_it()
    {
        await using var broker = await TestBroker.StartAsync();
        using var events = new EventRecorder(broker);
        await using var alice = await RawClient.JoinAsync(broker.LocalEndPoint, "alice");

        using var stop = new CancellationTokenSource();
        var sent = 0;
        var streaming = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                await alice.SendChatAsync(sent.ToString(CultureInfo.InvariantCulture));
                sent++;
            }

            await alice.SendChatAsync("end");
        });

        // Alice reads all the while, so the stream never stalls on her.
        var aliceSaw = Task.Run(async () =>
        {
            var seen = new List<ServerMessage>();
            while (await alice.ReceiveAsync() is var message && message != new ChatBroadcastMessage("alice", "end"))
            {
                seen.Add(message);
            }

            return seen;
        });

        // Join once the stream is well under way, then let it run on a while longer.
        await events.WaitForCountAsync<ChatEvent>(100);
        await using var bob = await RawClient.JoinAsync(broker.LocalEndPoint, "bob");
        var bobSaw = new List<ServerMessage> { await bob.ReceiveAsync() };
        while (bobSaw.Count < 300)
        {
            bobSaw.Add(await bob.ReceiveAsync());
        }

        await stop.CancelAsync();
        await streaming;
        while (await bob.ReceiveAsync() is var message && message != new ChatBroadcastMessage("alice", "end"))
        {
            bobSaw.Add(message);
        }

        Assert.That(bobSaw[0], Is.EqualTo(new RosterMessage(["alice"])));
        var bobNumbers = Numbers(bobSaw.Skip(1));
        Assert.That(bobNumbers[0], Is.GreaterThan(0), "bob joined mid-stream");
        Assert.That(bobNumbers, Is.EqualTo(Enumerable.Range(bobNumbers[0], sent - bobNumbers[0])), "bob sees every chat from his first on, once each, in order");

        var aliceMessages = await aliceSaw;
        var joinAt = aliceMessages.IndexOf(new UserJoinedMessage("bob"));
        Assert.That(joinAt, Is.GreaterThanOrEqualTo(0));
        Assert.That(aliceMessages.Count(m => m is UserJoinedMessage), Is.EqualTo(1));
        Assert.That(Numbers(aliceMessages.Where(m => m is not UserJoinedMessage)), Is.EqualTo(Enumerable.Range(0, sent)));
        Assert.That(Numbers(aliceMessages.Skip(joinAt + 1))[0], Is.EqualTo(bobNumbers[0]), "the join sits at the same point of the stream for both");
    }

    private static List<int> Numbers(IEnumerable<ServerMessage> messages) =>
        [.. messages.Select(m => m is ChatBroadcastMessage { Nickname: "alice" } chat
            ? int.Parse(chat.Text, CultureInfo.InvariantCulture)
            : throw new AssertionException($"expected only alice's numbered chats, got {m}"))];
}
