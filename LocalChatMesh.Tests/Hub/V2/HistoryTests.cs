using LocalChatMesh.Protocol;
using LocalChatMesh.Testing;
using LocalChatMesh.Tests.Support;

namespace LocalChatMesh.Tests.Hub.V2;

public class HistoryTests
{
    [Test]
    public void Joining_with_history_replays_the_last_chats_oldest_first_marked_before_anything_live()
    {
        using var hub = new HubHarness();
        var alice = hub.JoinV2("alice");
        alice.JoinRoom("dev");
        for (var i = 1; i <= 5; i++)
        {
            alice.Chat("dev", $"m{i}");
        }

        var bob = hub.JoinV2("bob");
        bob.JoinRoom("dev", history: 3);
        alice.Chat("dev", "live");

        var received = bob.Received.Skip(1).ToList();
        var joined = (JoinedMessage)received[0];
        Assert.That(joined.LastId, Is.EqualTo(5));
        Assert.That(joined.Recovered, Is.Null, "present exactly when the join carried after");
        Assert.That(received.Skip(1).Cast<ChatBroadcastMessage>().Select(c => (c.Text, c.History)), Is.EqualTo(new (string, bool?)[]
        {
            ("m3", true), ("m4", true), ("m5", true), ("live", null),
        }));
    }

    [Test]
    public void Presence_is_not_history()
    {
        using var hub = new HubHarness();
        var alice = hub.JoinV2("alice");
        alice.JoinRoom("dev");
        hub.JoinV2("carol").JoinRoom("dev");
        alice.Chat("dev", "one");

        var bob = hub.JoinV2("bob");
        bob.JoinRoom("dev", history: 100);

        Assert.That(bob.Received.Skip(2).Select(m => m.GetType()), Is.EqualTo(new[] { typeof(ChatBroadcastMessage) }));
    }

    [Test]
    public void Resuming_with_the_right_epoch_replays_everything_after_the_id()
    {
        using var hub = new HubHarness();
        var alice = hub.JoinV2("alice");
        alice.JoinRoom("dev");
        var bob = hub.JoinV2("bob");
        bob.JoinRoom("dev");
        alice.Chat("dev", "seen");
        var seen = bob.Received.OfType<ChatBroadcastMessage>().Last();
        var epoch = bob.Received.OfType<JoinedMessage>().Single().Epoch;
        bob.Reset();
        alice.Chat("dev", "missed 1");
        alice.Chat("dev", "missed 2");

        var back = hub.JoinV2("bob");
        back.JoinRoom("dev", history: 50, after: seen.Id, epoch: epoch);

        var joined = back.Received.OfType<JoinedMessage>().Single();
        Assert.That(joined.Recovered, Is.True);
        Assert.That(back.Received.OfType<ChatBroadcastMessage>().Select(c => c.Text), Is.EqualTo(new[] { "missed 1", "missed 2" }));
    }

    [TestCase("wrong-epoch")]
    [TestCase(null)]
    public void Resuming_with_a_wrong_or_missing_epoch_is_not_recovered_and_replays_the_history_count(string? epoch)
    {
        using var hub = new HubHarness();
        var alice = hub.JoinV2("alice");
        alice.JoinRoom("dev");
        for (var i = 1; i <= 4; i++)
        {
            alice.Chat("dev", $"m{i}");
        }

        var bob = hub.JoinV2("bob");
        bob.JoinRoom("dev", history: 2, after: 1, epoch: epoch);

        Assert.That(bob.Received.OfType<JoinedMessage>().Single().Recovered, Is.False);
        Assert.That(bob.Received.OfType<ChatBroadcastMessage>().Select(c => c.Text), Is.EqualTo(new[] { "m3", "m4" }));
    }

    [Test]
    public void Resuming_after_history_was_dropped_is_not_recovered()
    {
        using var hub = new HubHarness(options => options with { HistoryMessagesPerRoom = 3 });
        var alice = hub.JoinV2("alice");
        var epoch = HubHarness.EpochOf(alice);
        alice.JoinRoom("dev");
        for (var i = 1; i <= 6; i++)
        {
            alice.Chat("dev", $"m{i}");
        }

        var firstId = alice.Received.OfType<ChatBroadcastMessage>().First().Id!.Value;
        var bob = hub.JoinV2("bob");
        bob.JoinRoom("dev", after: firstId, epoch: epoch);
        var carol = hub.JoinV2("carol");
        carol.JoinRoom("dev", after: firstId + 2, epoch: epoch);

        Assert.That(bob.Received.OfType<JoinedMessage>().Single().Recovered, Is.False);
        Assert.That(bob.Received.OfType<ChatBroadcastMessage>(), Is.Empty, "history defaults to 0");
        Assert.That(carol.Received.OfType<JoinedMessage>().Single().Recovered, Is.True);
        Assert.That(carol.Received.OfType<ChatBroadcastMessage>().Select(c => c.Text), Is.EqualTo(new[] { "m4", "m5", "m6" }));
    }

    [Test]
    public void History_and_resume_need_the_history_capability()
    {
        using var hub = new HubHarness();
        var alice = hub.JoinV2("alice");
        alice.JoinRoom("dev");
        alice.Chat("dev", "m1");

        var bob = hub.JoinV2("bob", [ChatCapabilities.Rooms, ChatCapabilities.Meta]);
        bob.JoinRoom("dev", history: 10, after: 0, epoch: "x");

        Assert.That(bob.Received.Skip(1), Is.EqualTo(new ServerMessage[] { new JoinedMessage("dev", ["alice"]) }));
    }

    [Test]
    public void History_is_limited_by_count_per_room()
    {
        using var hub = new HubHarness(options => options with { HistoryMessagesPerRoom = 10 });
        var alice = hub.JoinV2("alice");
        alice.JoinRoom("dev");
        for (var i = 1; i <= 25; i++)
        {
            alice.Chat("dev", $"m{i}");
        }

        var bob = hub.JoinV2("bob");
        bob.JoinRoom("dev", history: 1000);

        Assert.That(bob.Received.OfType<ChatBroadcastMessage>().Select(c => c.Text), Is.EqualTo(Enumerable.Range(16, 10).Select(i => $"m{i}")));
    }

    [Test]
    public void History_is_limited_by_bytes_per_room_and_in_total()
    {
        using var hub = new HubHarness(options => options with { HistoryBytesPerRoom = 20_000, HistoryBytes = 30_000 });
        var alice = hub.JoinV2("alice");
        alice.JoinRoom("a");
        alice.JoinRoom("b");
        var text = new string('x', 1000);
        for (var i = 0; i < 50; i++)
        {
            alice.Chat("a", text);
        }

        var roomA = Replay(hub, "a");
        Assert.That(roomA, Is.InRange(1, 20_000 / 3000), "one room's bytes");
        for (var i = 0; i < 50; i++)
        {
            alice.Chat("b", text);
        }

        Assert.That(Replay(hub, "a") + Replay(hub, "b"), Is.InRange(2, 30_000 / 3000), "all rooms' bytes");
        Assert.That(Replay(hub, "b"), Is.GreaterThan(0), "the newest survive");
    }

    [Test]
    public void History_is_limited_by_age_on_the_hubs_clock()
    {
        using var hub = new HubHarness(options => options with { HistoryMaxAge = TimeSpan.FromMinutes(10) });
        var alice = hub.JoinV2("alice");
        alice.JoinRoom("dev");
        alice.Chat("dev", "old");
        hub.Advance(TimeSpan.FromMinutes(6));
        alice.Chat("dev", "newer");
        hub.Advance(TimeSpan.FromMinutes(5));

        var bob = hub.JoinV2("bob");
        bob.JoinRoom("dev", history: 10);

        Assert.That(bob.Received.OfType<ChatBroadcastMessage>().Select(c => c.Text), Is.EqualTo(new[] { "newer" }));
    }

    [Test]
    public void An_empty_room_goes_once_its_history_has_aged_out()
    {
        using var hub = new HubHarness(options => options with { HistoryMaxAge = TimeSpan.FromMinutes(1) });
        var alice = hub.JoinV2("alice");
        alice.JoinRoom("dev");
        alice.Chat("dev", "bye");
        alice.Close();
        Assert.That(hub.Broker.Rooms, Has.Count.EqualTo(1));

        hub.Advance(TimeSpan.FromMinutes(2));

        Assert.That(hub.Broker.Rooms, Is.Empty);
    }

    [Test]
    public void A_long_replay_to_a_slow_reader_is_paced_by_its_queue_and_never_passes_the_hard_limit()
    {
        using var hub = new HubHarness(options => options with { OutboundSoftLimitBytes = 16 * 1024, OutboundHardLimitBytes = 64 * 1024 });
        var alice = hub.JoinV2("alice");
        alice.JoinRoom("dev");
        for (var i = 0; i < 1000; i++)
        {
            alice.Chat("dev", $"{i:D4} " + new string('x', 500));
        }

        var bob = hub.JoinV2("bob");
        bob.IsReading = false;
        bob.JoinRoom("dev", history: 1000);
        alice.Chat("dev", "live after the replay");
        var peak = bob.BufferedBytes;
        for (var round = 0; round < 200 && !bob.Received.OfType<ChatBroadcastMessage>().Any(c => c.History is null); round++)
        {
            bob.Read(8 * 1024);
            hub.Advance(TimeSpan.FromMilliseconds(100));
            peak = Math.Max(peak, bob.BufferedBytes);
        }

        var chats = bob.Received.OfType<ChatBroadcastMessage>().ToList();
        Assert.That(peak, Is.LessThanOrEqualTo(64 * 1024));
        Assert.That(chats.Take(1000).Select(c => c.Text[..4]), Is.EqualTo(Enumerable.Range(0, 1000).Select(i => $"{i:D4}")));
        Assert.That(chats.Take(1000).All(c => c.History == true), Is.True);
        Assert.That(chats[1000].Text, Is.EqualTo("live after the replay"));
        Assert.That(bob.Received.OfType<ErrorMessage>(), Is.Empty, "nothing was dropped");
    }

    private static int Replay(HubHarness hub, string room)
    {
        var probe = hub.JoinV2($"probe{Guid.NewGuid():N}"[..20]);
        probe.JoinRoom(room, history: 10_000);
        var count = probe.Received.OfType<ChatBroadcastMessage>().Count();
        probe.Close();
        return count;
    }
}
