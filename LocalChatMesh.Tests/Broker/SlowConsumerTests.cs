using System.Globalization;
using System.Text.RegularExpressions;
using LocalChatMesh.Protocol;
using LocalChatMesh.Tests.Support;

namespace LocalChatMesh.Tests.Broker;

public partial class SlowConsumerTests
{
    private const int SoftLimit = 16 * 1024;
    private const int HardLimit = 64 * 1024;

    // Chats carry "sequence:padding"; 2 KB each so that a broker that kept everything for a stuck
    // client would hold megabytes, far beyond the bound below.
    private static readonly string Padding = new('p', 2000);

    private static BrokerOptions SmallLimits(BrokerOptions options) => options with
    {
        OutboundSoftLimitBytes = SoftLimit,
        OutboundHardLimitBytes = HardLimit,
        LagGrace = TimeSpan.FromMilliseconds(500),
        DisconnectGrace = TimeSpan.FromSeconds(3),
    };

    [Test]
    public async Task A_stuck_client_costs_the_others_nothing_and_is_disconnected_while_memory_stays_bounded()
    {
        const int Senders = 3;
        const int PerSender = 2000;
        await using var broker = await TestBroker.StartAsync(SmallLimits);

        // Chat events are left out: their texts would be the biggest thing in the heap.
        using var events = new EventRecorder(broker, e => e is not ChatEvent);

        // Stuck joins first and never reads again; a small receive buffer keeps the kernel from hiding it.
        await using var stuck = await RawClient.JoinAsync(broker.LocalEndPoint, "stuck", receiveBufferSize: 4096);
        var healthy = new List<RawClient>();
        try
        {
            for (var i = 0; i <= Senders; i++)
            {
                healthy.Add(await RawClient.JoinAsync(broker.LocalEndPoint, i < Senders ? $"s{i}" : "watcher"));
            }

            var receiving = healthy.Select((client, i) => Task.Run(() => ReceiveAllAsync(client, Senders + 1 - i - 1, Senders * PerSender))).ToList();

            var baseline = LiveBytes();
            using var sampling = new CancellationTokenSource();
            var peak = Task.Run(() => SamplePeakMemoryAsync(sampling.Token));

            var sending = healthy.Take(Senders).Select(client => Task.Run(async () =>
            {
                for (var n = 0; n < PerSender; n++)
                {
                    await client.SendChatAsync(Chat(n));
                }
            }));
            await Task.WhenAll(sending);
            var views = await Task.WhenAll(receiving);
            await sampling.CancelAsync();
            var growth = await peak - baseline;
            await TestContext.Out.WriteLineAsync($"live managed heap growth at peak: {growth:N0} bytes");

            for (var c = 0; c < views.Length; c++)
            {
                for (var s = 0; s < Senders; s++)
                {
                    Assert.That(views[c].Chats[$"s{s}"], Is.EqualTo(Enumerable.Range(0, PerSender)), $"client {c} lost nothing from s{s}");
                }
            }

            var gone = await events.WaitForAsync<ClientDisconnectedEvent>(e => e.Nickname == "stuck");
            Assert.That(gone.Reason, Is.EqualTo(DisconnectReason.SlowConsumer));
            Assert.That(events.Snapshot().OfType<ClientLaggingEvent>().Select(e => e.Nickname), Is.EqualTo(new[] { "stuck" }), "only stuck lagged");

            // The bound: each of the 5 connections may hold its hard limit plus one frame in its
            // queue and a 64 KiB coalescing buffer; everything else the broker holds is small.
            // Doubled, plus 3 MiB for the runtime (array pools keep buffers per thread, and a
            // loaded machine has more threads), it is about 4.3 MB: still far below the 12 MB a
            // broker would hold if it kept all of the stuck client's messages. Measured: 0.3-1.2 MB.
            const long Bound = (2 * 5 * (HardLimit + 4096 + (64 * 1024))) + (3 * 1024 * 1024);
            Assert.That(growth, Is.LessThan(Bound), $"live managed heap growth {growth:N0} bytes");
        }
        finally
        {
            foreach (var client in healthy)
            {
                await client.DisposeAsync();
            }
        }
    }

    [Test]
    public async Task A_lagging_client_that_reads_again_is_told_how_many_messages_it_missed()
    {
        await using var broker = await TestBroker.StartAsync(o => SmallLimits(o) with { DisconnectGrace = TimeSpan.FromSeconds(30) });
        using var events = new EventRecorder(broker);
        await using var lagger = await RawClient.JoinAsync(broker.LocalEndPoint, "lagger", receiveBufferSize: 4096);
        await using var bob = await RawClient.JoinAsync(broker.LocalEndPoint, "bob");
        await bob.ExpectAsync<RosterMessage>();

        // Bob chats (reading his echoes) until lagger lags, then 100 more that lagger must miss.
        var sent = await LagDriver.ChatUntilLaggingAsync(bob, events.WaitForAsync<ClientLaggingEvent>(), Chat);

        // Lagger reads again: what was queued, in order, then the notice accounting for the rest.
        Assert.That(await lagger.ReceiveAsync(), Is.EqualTo(new UserJoinedMessage("bob")));
        var received = new List<int>();
        ServerMessage message;
        while ((message = await lagger.ReceiveAsync()) is ChatBroadcastMessage chat)
        {
            received.Add(Sequence(chat));
        }

        var missed = Missed(message);
        Assert.That(missed, Is.GreaterThan(0));
        Assert.That(received, Is.EqualTo(Enumerable.Range(0, received.Count)), "what it got is in order");
        Assert.That(received.Count + missed, Is.EqualTo(sent), "every chat was delivered or counted as missed");

        // Caught up, it is an ordinary client again.
        await bob.SendChatAsync("after");
        await lagger.ExpectChatAsync("bob", "after");
        Assert.That(events.Snapshot().OfType<ClientDisconnectedEvent>(), Is.Empty);
    }

    [Test]
    public async Task A_slow_reader_loses_nothing_it_is_not_told_about()
    {
        const int Total = 3000;
        await using var broker = await TestBroker.StartAsync(SmallLimits);
        using var events = new EventRecorder(broker);
        await using var slow = await RawClient.JoinAsync(broker.LocalEndPoint, "slow", receiveBufferSize: 4096);
        await using var bob = await RawClient.JoinAsync(broker.LocalEndPoint, "bob");
        await bob.ExpectAsync<RosterMessage>();
        Assert.That(await slow.ReceiveAsync(), Is.EqualTo(new UserJoinedMessage("bob")));

        // Slow reads in bursts with pauses: it keeps reading, just slower than bob can send.
        var slowReads = Task.Run(async () =>
        {
            var received = new List<int>();
            long missed = 0;
            while (true)
            {
                var message = await slow.ReceiveAsync();
                if (message == new ChatBroadcastMessage("bob", "end"))
                {
                    return (received, missed);
                }

                if (message is ChatBroadcastMessage chat)
                {
                    received.Add(Sequence(chat));
                    if (received.Count % 100 == 0)
                    {
                        await Task.Delay(TimeSpan.FromMilliseconds(20));
                    }
                }
                else
                {
                    missed += Missed(message);
                }
            }
        });
        var bobReads = Task.Run(async () =>
        {
            for (var n = 0; n <= Total; n++)
            {
                await bob.ExpectAsync<ChatBroadcastMessage>();
            }
        });

        for (var n = 0; n < Total; n++)
        {
            await bob.SendChatAsync(Chat(n));
        }

        await bob.SendChatAsync("end");
        await bobReads;
        var (got, lost) = await slowReads;

        Assert.That(got, Is.Ordered.Ascending.And.Unique, "in order, none twice");
        Assert.That(got.Count + lost, Is.EqualTo(Total), "every chat was delivered or counted as missed");
        if (lost == 0)
        {
            Assert.That(got, Is.EqualTo(Enumerable.Range(0, Total)));
        }

        Assert.That(events.Snapshot().OfType<ClientDisconnectedEvent>(), Is.Empty, "a reading client is never disconnected");
    }

    private static string Chat(int sequence) => sequence.ToString(CultureInfo.InvariantCulture) + ":" + Padding;

    private static int Sequence(ChatBroadcastMessage chat) =>
        int.Parse(chat.Text.AsSpan(0, chat.Text.IndexOf(':', StringComparison.Ordinal)), CultureInfo.InvariantCulture);

    private static long Missed(ServerMessage message)
    {
        Assert.That(message, Is.InstanceOf<ErrorMessage>());
        var match = BehindBy().Match(((ErrorMessage)message).Message);
        Assert.That(match.Success, Is.True, $"expected the lag notice, got {message}");
        return long.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
    }

    // Reads until it has every chat and (if it expects one) the stuck client's user_left;
    // keeps only sequence numbers per sender, so that the test's own memory stays flat.
    private static async Task<(Dictionary<string, List<int>> Chats, bool SawStuckLeave)> ReceiveAllAsync(RawClient client, int joinsToCome, int chats)
    {
        var bySender = new Dictionary<string, List<int>>();
        var count = 0;
        var sawLeave = false;
        var joins = 0;
        while (count < chats || !sawLeave)
        {
            switch (await client.ReceiveAsync())
            {
                case ChatBroadcastMessage chat:
                    if (!bySender.TryGetValue(chat.Nickname, out var list))
                    {
                        bySender[chat.Nickname] = list = [];
                    }

                    list.Add(Sequence(chat));
                    count++;
                    break;
                case UserLeftMessage { Nickname: "stuck" }:
                    sawLeave = true;
                    break;
                case RosterMessage:
                    break;
                case UserJoinedMessage:
                    joins++;
                    break;
                case var other:
                    Assert.Fail($"unexpected {other}");
                    break;
            }
        }

        Assert.That(joins, Is.EqualTo(joinsToCome));
        return (bySender, sawLeave);
    }

    private static async Task<long> SamplePeakMemoryAsync(CancellationToken cancellationToken)
    {
        long peak = 0;
        while (!cancellationToken.IsCancellationRequested)
        {
            peak = Math.Max(peak, LiveBytes());
            await Task.Delay(TimeSpan.FromMilliseconds(100), cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        return peak;
    }

    // What survives a full blocking collection: the live heap at that instant. (GC.GetTotalMemory
    // also counts whatever other threads allocated after the collection, megabytes of garbage
    // at this message rate on a loaded machine.)
    private static long LiveBytes()
    {
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        return GC.GetGCMemoryInfo(GCKind.FullBlocking).PromotedBytes;
    }

    [GeneratedRegex("^you are behind by ([0-9]+) messages; consider reconnecting$")]
    private static partial Regex BehindBy();
}
