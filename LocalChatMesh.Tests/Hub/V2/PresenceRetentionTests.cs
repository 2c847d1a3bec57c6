using System.Diagnostics.Metrics;
using LocalChatMesh.Protocol;
using LocalChatMesh.Testing;
using LocalChatMesh.Tests.Support;

namespace LocalChatMesh.Tests.Hub.V2;

/// <summary>
/// Presence is not history: a room's log holds joins and leaves only while a member replaying
/// history still has to read them in order. Once it has caught up they must not stay behind in the
/// log, counted in <c>chatmesh.history.bytes</c> and against the room's history limits.
/// </summary>
public class PresenceRetentionTests
{
    [Test]
    public void Presence_kept_for_a_member_catching_up_is_let_go_once_it_has_caught_up()
    {
        var (caughtUp, received) = HistoryBytesAfterEverybodyLeaves(withMemberCatchingUp: true);
        var (plain, _) = HistoryBytesAfterEverybodyLeaves(withMemberCatchingUp: false);

        Assert.That(caughtUp, Is.EqualTo(plain), "the room's history holds the same chats either way, and nothing else");
        Assert.That(received.Where(m => m is not WelcomeMessage).Select(Describe), Is.EqualTo(
            new[] { "joined dev" }
                .Concat(Enumerable.Range(0, 20).Select(n => $"history {n}"))
                .Concat(["carol joined", "carol left", "live y"])),
            "the member catching up still read the presence in the room's order");
    }

    // Alice fills dev with 20 chats; bob (reading nothing yet) joins with history 20 and is behind
    // its replay while carol joins and leaves and alice chats once more; then bob reads and everybody leaves.
    private static (long HistoryBytes, IReadOnlyList<ServerMessage> BobReceived) HistoryBytesAfterEverybodyLeaves(bool withMemberCatchingUp)
    {
        using var hub = new HubHarness(o => o with { OutboundSoftLimitBytes = 8192 });
        var alice = hub.JoinV2("alice");
        alice.JoinRoom("dev");
        for (var n = 0; n < 20; n++)
        {
            alice.Chat("dev", $"{n}:{new string('x', 1000)}");
        }

        InMemoryConnection? bob = null;
        if (withMemberCatchingUp)
        {
            bob = hub.JoinV2("bob");
            bob.IsReading = false;
            bob.JoinRoom("dev", history: 20);
        }

        var carol = hub.JoinV2("carol");
        carol.JoinRoom("dev");
        carol.Send(new LeaveMessage("dev"));
        alice.Chat("dev", "y");
        for (var tick = 0; tick < 50 && bob is not null; tick++)
        {
            bob.IsReading = true;
            hub.Advance(TimeSpan.FromMilliseconds(100));
        }

        var received = bob?.Received ?? [];
        alice.Close();
        bob?.Close();
        carol.Close();
        hub.Advance(TimeSpan.FromMilliseconds(100));
        Assert.That(hub.Broker.Rooms, Is.EqualTo(new[] { new RoomSummary("dev", 0) }));
        return (HistoryBytes(hub), received);
    }

    private static long HistoryBytes(HubHarness hub)
    {
        long bytes = -1;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (ReferenceEquals(instrument.Meter, hub.Broker.Hub.Metrics.Meter) && instrument.Name == "chatmesh.history.bytes")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, value, _, _) => bytes = value);
        listener.Start();
        listener.RecordObservableInstruments();
        return bytes;
    }

    private static string Describe(ServerMessage message) => message switch
    {
        JoinedMessage joined => $"joined {joined.Room}",
        ChatBroadcastMessage { History: true } chat => $"history {chat.Text[..chat.Text.IndexOf(':', StringComparison.Ordinal)]}",
        ChatBroadcastMessage chat => $"live {chat.Text}",
        UserJoinedMessage joined => $"{joined.Nickname} joined",
        UserLeftMessage left => $"{left.Nickname} left",
        _ => message.ToString(),
    };
}
