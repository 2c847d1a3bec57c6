using LocalChatMesh.Protocol;
using LocalChatMesh.Testing;
using LocalChatMesh.Tests.Support;

namespace LocalChatMesh.Tests.Hub;

/// <summary>The flow-control rules of PROTOCOL.md, on virtual time.</summary>
public class SlowConsumerTests
{
    private const long Soft = 1000;
    private const long Hard = 4000;

    private static HubHarness CreateHub() => new(options => options with
    {
        OutboundSoftLimitBytes = Soft,
        OutboundHardLimitBytes = Hard,
        MaxLineLength = 100,
        LagGrace = TimeSpan.FromSeconds(2),
        DisconnectGrace = TimeSpan.FromSeconds(30),
        SlowConsumerCheckInterval = TimeSpan.FromMilliseconds(100),
    });

    [Test]
    public void A_client_above_the_soft_limit_holds_the_senders_back_within_the_lag_grace_and_loses_nothing()
    {
        using var hub = CreateHub();
        var alice = hub.Join("alice");
        var slow = hub.Join("slow");
        slow.IsReading = false;

        SendUntilAboveSoftLimit(alice, slow);
        hub.Advance(TimeSpan.FromSeconds(1.9));

        Assert.That(slow.HoldsBackSenders, Is.True);
        slow.IsReading = true;
        hub.Advance(TimeSpan.FromSeconds(5));
        alice.Chat("after");

        Assert.That(slow.Received.OfType<ErrorMessage>(), Is.Empty);
        Assert.That(slow.Received[^1], Is.EqualTo(new ChatBroadcastMessage("alice", "after")));
    }

    [Test]
    public void After_the_lag_grace_a_stuck_client_lags_its_messages_are_dropped_and_it_is_told_when_it_catches_up()
    {
        using var hub = CreateHub();
        var alice = hub.Join("alice");
        var slow = hub.Join("slow");
        slow.IsReading = false;
        SendUntilAboveSoftLimit(alice, slow);

        hub.Advance(TimeSpan.FromSeconds(2.1));
        Assert.That(slow.HoldsBackSenders, Is.False, "a lagging client no longer holds the senders back");
        Assert.That(hub.Events.OfType<ClientLaggingEvent>().Single().Nickname, Is.EqualTo("slow"));

        var queued = slow.Frames.Count;
        for (var i = 0; i < 7; i++)
        {
            alice.Chat($"missed {i}");
        }

        Assert.That(slow.Frames, Has.Count.EqualTo(queued), "nothing more is queued for a lagging client");
        Assert.That(alice.Received.OfType<ChatBroadcastMessage>().Count(m => m.Text.StartsWith("missed", StringComparison.Ordinal)), Is.EqualTo(7));

        slow.IsReading = true;
        hub.Advance(TimeSpan.FromMilliseconds(100));
        alice.Chat("back");

        Assert.That(slow.Received.TakeLast(2), Is.EqualTo(new ServerMessage[]
        {
            new ErrorMessage("you are behind by 7 messages; consider reconnecting"),
            new ChatBroadcastMessage("alice", "back"),
        }));
        Assert.That(slow.HoldsBackSenders, Is.True);
    }

    [Test]
    public void A_client_that_keeps_reading_slowly_never_lags()
    {
        using var hub = CreateHub();
        var alice = hub.Join("alice");
        var slow = hub.Join("slow");
        slow.IsReading = false;

        // Above the soft limit, then below it, again and again: each dip restarts the grace.
        for (var round = 0; round < 20; round++)
        {
            SendUntilAboveSoftLimit(alice, slow);
            hub.Advance(TimeSpan.FromSeconds(1.5));
            slow.Read(slow.BufferedBytes);
            hub.Advance(TimeSpan.FromMilliseconds(200));
        }

        Assert.That(hub.Events.OfType<ClientLaggingEvent>(), Is.Empty);
        Assert.That(slow.Received.OfType<ErrorMessage>(), Is.Empty);
        Assert.That(
            slow.Received.OfType<ChatBroadcastMessage>().Count(),
            Is.EqualTo(alice.Received.OfType<ChatBroadcastMessage>().Count()));
    }

    [Test]
    public void The_hard_limit_bounds_the_queue_at_once()
    {
        using var hub = CreateHub();
        var alice = hub.Join("alice");
        var slow = hub.Join("slow");
        slow.IsReading = false;

        for (var i = 0; i < 500; i++)
        {
            alice.Chat($"message {i}");
        }

        Assert.That(slow.BufferedBytes, Is.LessThanOrEqualTo(Hard));
        Assert.That(alice.Received.OfType<ChatBroadcastMessage>().Count(), Is.EqualTo(500));
    }

    [Test]
    public void A_client_that_makes_no_progress_for_the_disconnect_grace_is_disconnected_and_announced()
    {
        using var hub = CreateHub();
        var alice = hub.Join("alice");
        var slow = hub.Join("slow");
        slow.IsReading = false;
        alice.Chat("unread");
        alice.TakeReceived();

        hub.Advance(TimeSpan.FromSeconds(29.8));
        Assert.That(slow.IsOpen(), Is.True);

        hub.Advance(TimeSpan.FromSeconds(0.3));
        Assert.That(slow.Aborted, Is.True);
        Assert.That(alice.Received, Is.EqualTo(new ServerMessage[] { new UserLeftMessage("slow") }));
        Assert.That(hub.Events.OfType<ClientDisconnectedEvent>().Single().Reason, Is.EqualTo(DisconnectReason.SlowConsumer));
        Assert.That(hub.Broker.Participants, Is.EqualTo(new[] { "alice" }));
    }

    [Test]
    public void Progress_however_slow_keeps_a_client_connected()
    {
        using var hub = CreateHub();
        var alice = hub.Join("alice");
        var slow = hub.Join("slow");
        slow.IsReading = false;
        SendUntilAboveSoftLimit(alice, slow);

        for (var minute = 0; minute < 60; minute++)
        {
            hub.Advance(TimeSpan.FromSeconds(20));
            slow.Read(1);
        }

        Assert.That(slow.IsOpen(), Is.True);
    }

    [Test]
    public void A_client_that_provokes_errors_without_reading_them_stays_within_the_hard_limit()
    {
        const int Provocations = 1000;
        using var hub = CreateHub();
        var mallory = hub.Join("mallory");
        mallory.IsReading = false;

        // Each second hello is answered with an error for mallory alone: ~47 KB if all were kept.
        for (var i = 0; i < Provocations; i++)
        {
            mallory.Send(new HelloMessage("mallory"));
        }

        Assert.That(mallory.BufferedBytes, Is.LessThanOrEqualTo(Hard));
        Assert.That(mallory.HoldsBackSenders, Is.False, "at the hard limit it lags instead of holding the others back");

        mallory.IsReading = true;
        hub.Advance(TimeSpan.FromMilliseconds(100));
        var received = mallory.Received.Skip(1).ToList();
        var kept = received.Count(m => m == new ErrorMessage("already connected"));
        Assert.That(kept, Is.InRange(1, Provocations - 1));
        Assert.That(received, Has.Count.EqualTo(kept + 1));
        Assert.That(received[^1], Is.EqualTo(new ErrorMessage($"you are behind by {Provocations - kept} messages; consider reconnecting")));
    }

    [Test]
    public void An_idle_client_with_nothing_queued_is_never_disconnected()
    {
        using var hub = CreateHub();
        var idle = hub.Join("idle");

        hub.Advance(TimeSpan.FromHours(2));

        Assert.That(idle.IsOpen(), Is.True);
    }

    [Test]
    public void What_a_lagging_client_misses_counts_as_dropped_not_as_delivered()
    {
        using var hub = CreateHub();
        var counted = new Dictionary<string, long>();
        using var listener = new System.Diagnostics.Metrics.MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (ReferenceEquals(instrument.Meter, hub.Broker.Hub.Metrics.Meter))
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, _, _) =>
            counted[instrument.Name] = counted.GetValueOrDefault(instrument.Name) + value);
        listener.Start();
        var alice = hub.Join("alice");
        var slow = hub.Join("slow");
        slow.IsReading = false;
        SendUntilAboveSoftLimit(alice, slow);
        hub.Advance(TimeSpan.FromSeconds(2.1));
        var deliveredBefore = counted["chatmesh.messages.delivered"];
        var droppedBefore = counted.GetValueOrDefault("chatmesh.deliveries.dropped");

        for (var i = 0; i < 7; i++)
        {
            alice.Chat($"missed {i}");
        }

        Assert.Multiple(() =>
        {
            Assert.That(counted["chatmesh.messages.delivered"] - deliveredBefore, Is.EqualTo(7), "queued for alice only");
            Assert.That(counted["chatmesh.deliveries.dropped"] - droppedBefore, Is.EqualTo(7), "dropped for the lagging client");
        });
    }

    private static void SendUntilAboveSoftLimit(InMemoryConnection sender, InMemoryConnection slow)
    {
        var i = 0;
        while (slow.BufferedBytes <= Soft)
        {
            sender.Chat($"filler {i++}");
        }
    }
}
