using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using LocalChatMesh.Protocol;
using LocalChatMesh.Tests.Support;

namespace LocalChatMesh.Tests.Diagnostics;

/// <summary>
/// The version 2 instruments against a real broker: <c>chatmesh.rooms</c>, <c>chatmesh.history.bytes</c>,
/// <c>chatmesh.room.joins</c> and <c>chatmesh.messages.direct</c> count what happened, only what was
/// accepted, and the gauges return to their baseline once everybody has left; and no instrument is
/// tagged with anything that grows with the users (rooms, nicknames).
/// </summary>
public class RoomMetricsTests
{
    private static readonly string[] Everything = [.. ChatCapabilities.All];
    private static readonly string[] RoomsAndDirect = [ChatCapabilities.Rooms, ChatCapabilities.Direct];

    [TestCase(1000, TestName = "The room instruments count what was accepted and return to baseline, with history")]
    [TestCase(0, TestName = "The room instruments count what was accepted and return to baseline, without history")]
    public async Task The_room_instruments_count_what_was_accepted_and_return_to_baseline(int historyPerRoom)
    {
        await using var broker = await TestBroker.StartAsync(o => o with { HistoryMessagesPerRoom = historyPerRoom });
        using var events = new EventRecorder(broker);
        using var gauges = new BrokerGauges(broker);
        Assert.That((gauges.Rooms, gauges.HistoryBytes), Is.EqualTo((0L, 0L)), "a new broker has no room and no history");

        // A version 1 client makes the lobby.
        var victor = await RawClient.JoinAsync(broker.LocalEndPoint, "victor");
        await EventuallyAsync(() => gauges.Total("chatmesh.room.joins") == 1, "the lobby join at welcome counts");
        Assert.That(gauges.Rooms, Is.EqualTo(1));

        var alice = await JoinV2Async(broker, "alice", Everything);
        var bob = await JoinV2Async(broker, "bob", RoomsAndDirect);
        await JoinRoomAsync(alice, "dev");
        await JoinRoomAsync(alice, "ops");
        await JoinRoomAsync(bob, "DEV", ["alice"], shownAs: "dev");
        Assert.That(await alice.ReceiveAsync(), Is.EqualTo(new UserJoinedMessage("bob") { Room = "dev" }));
        await EventuallyAsync(() => gauges.Total("chatmesh.room.joins") == 4, "four joins");
        Assert.That(gauges.Rooms, Is.EqualTo(3), "lobby, dev and ops");

        // Refused joins count as nothing.
        await alice.SendAsync(new JoinMessage("Dev"));
        await alice.ExpectErrorAsync("already in room 'dev'");
        await alice.SendAsync(new JoinMessage("no such room!"));
        await alice.ExpectErrorAsync("invalid room name");
        await victor.SendLineAsync("""{"type":"join","room":"dev"}""");
        await victor.ExpectErrorAsync("unknown message type 'join'");

        // Chats in dev are its history (when it keeps any).
        var history = new List<long>();
        for (var n = 0; n < 3; n++)
        {
            await alice.SendAsync(new ChatMessage($"chat {n}") { Room = "dev" });
            await alice.ExpectAsync<ChatBroadcastMessage>();
            await bob.ExpectAsync<ChatBroadcastMessage>();
            history.Add(gauges.HistoryBytes);
        }

        if (historyPerRoom > 0)
        {
            Assert.That(history, Is.Ordered.Ascending.And.Unique.And.All.GreaterThan(0), "each chat kept adds to the history's bytes");
            Assert.That(history[^1], Is.LessThan(16 * 1024), "a sensible estimate for three short chats");
        }
        else
        {
            Assert.That(history, Is.All.EqualTo(0), "no history is kept");
        }

        // Direct messages: only those delivered count.
        await alice.SendAsync(new DirectMessage("bob", "hi bob"));
        await alice.ExpectAsync<DirectDeliveryMessage>();
        await bob.ExpectAsync<DirectDeliveryMessage>();
        await alice.SendAsync(new DirectMessage("alice", "note to self"));
        await alice.ExpectAsync<DirectDeliveryMessage>();
        await alice.SendAsync(new DirectMessage("nobody", "hi"));
        await alice.ExpectErrorAsync("no such user 'nobody'");
        await alice.SendAsync(new DirectMessage("victor", "hi"));
        await alice.ExpectErrorAsync("'victor' cannot receive direct messages");
        await alice.SendAsync(new DirectMessage("bob", " "));
        await alice.SendAsync(new ListRoomsMessage());
        var list = await alice.ExpectAsync<RoomListMessage>();
        Assert.That(list.Rooms, Is.EqualTo(new[] { new RoomSummary("dev", 2), new RoomSummary("lobby", 1), new RoomSummary("ops", 1) }));
        await EventuallyAsync(() => gauges.Total("chatmesh.messages.direct") == 2, "two direct messages delivered");
        Assert.That(gauges.Total("chatmesh.room.joins"), Is.EqualTo(4), "refused joins are not counted");
        Assert.That(gauges.Rooms, Is.EqualTo(broker.Rooms.Count));

        // Leaving ops (no history) removes it; leaving dev keeps it while it has history.
        await alice.SendAsync(new LeaveMessage("ops"));
        Assert.That(await alice.ReceiveAsync(), Is.EqualTo(new LeftMessage("ops")));
        Assert.That(gauges.Rooms, Is.EqualTo(2));

        await alice.DisposeAsync();
        await bob.DisposeAsync();
        await victor.DisposeAsync();
        await events.WaitForCountAsync<ClientDisconnectedEvent>(3);
        var withHistory = historyPerRoom > 0;
        await gauges.WaitForBaselineAsync(connections: 0, rooms: withHistory ? 1 : 0, historyBytes: withHistory ? history[^1] : 0);
        Assert.That(broker.Rooms, Is.EqualTo(withHistory ? new[] { new RoomSummary("dev", 0) } : Array.Empty<RoomSummary>()), "only a room with history outlives its members");
        Assert.That(gauges.Total("chatmesh.room.joins"), Is.EqualTo(4));
        Assert.That(gauges.Total("chatmesh.messages.direct"), Is.EqualTo(2));
    }

    [Test]
    public async Task No_instrument_is_tagged_with_a_room_or_a_nickname()
    {
        const int Clients = 20;
        var tags = new ConcurrentDictionary<(string Instrument, string Tags), long>();
        await using var broker = await TestBroker.StartAsync(o => o with { MaxRoomsPerClient = 3 });
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (ReferenceEquals(instrument.Meter, broker.Meter))
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, measurementTags, _) =>
        {
            var described = string.Join(",", measurementTags.ToArray().Select(t => $"{t.Key}={t.Value}"));
            tags.AddOrUpdate((instrument.Name, described), 1, (_, n) => n + 1);
        });
        listener.Start();
        using var events = new EventRecorder(broker);

        // Distinctive nicknames and rooms, everything they can do, and every way of leaving.
        var clients = new List<RawClient>();
        for (var i = 0; i < Clients; i++)
        {
            var client = await JoinV2Async(broker, $"quokka{i}", Everything);
            clients.Add(client);
            await JoinRoomAsync(client, $"zebra-{i}");
            await JoinRoomAsync(client, "zebra-shared", [.. Enumerable.Range(0, i).Select(n => $"quokka{n}")]);
            await client.SendAsync(new ChatMessage($"hello from quokka{i}") { Room = $"zebra-{i}" });
            await client.SendAsync(new DirectMessage($"quokka{i}", "self"));
            await client.SendAsync(new JoinMessage("zebra-third"));
            await client.SendAsync(new JoinMessage("zebra-fourth"));
            await client.SendAsync(new WhoMessage("zebra-shared"));
            await client.SendAsync(new ListRoomsMessage());
        }

        var (replaced, session) = await JoinV2WithSessionAsync(broker, "quokka-replaced", Everything);
        await JoinRoomAsync(replaced, "zebra-replaced");
        var taker = await RawClient.ConnectAsync(broker.LocalEndPoint);
        await taker.SendAsync(new HelloMessage("quokka-replaced") { Capabilities = Everything, Session = session });
        await replaced.ExpectErrorAsync("connection replaced");
        await taker.ExpectAsync<WelcomeMessage>();
        var refused = await RawClient.ConnectAsync(broker.LocalEndPoint);
        await refused.SendLineAsync("""{"type":"hello","nickname":"quokka0","capabilities":["rooms"]}""");
        await refused.ExpectErrorAsync("nickname 'quokka0' is already in use");
        var tooLong = await JoinV2Async(broker, "quokka-long", Everything);
        await tooLong.SendLineAsync("{\"type\":\"join\",\"room\":\"zebra-" + new string('z', 9000) + "\"}");
        await tooLong.ExpectErrorAsync("line exceeds the limit of 8192 bytes");
        clients[0].Reset();
        foreach (var client in clients.Skip(1).Concat([replaced, taker, refused, tooLong]))
        {
            await client.DisposeAsync();
        }

        await events.WaitForCountAsync<ClientDisconnectedEvent>(Clients + 4);
        listener.RecordObservableInstruments();

        var seen = tags.Keys.ToList();
        Assert.That(seen.Select(k => k.Instrument), Is.SupersetOf(new[] { "chatmesh.rooms", "chatmesh.history.bytes", "chatmesh.room.joins", "chatmesh.messages.direct" }));
        Assert.That(seen.Where(k => k.Tags.Contains("quokka", StringComparison.OrdinalIgnoreCase) || k.Tags.Contains("zebra", StringComparison.OrdinalIgnoreCase)), Is.Empty, "no tag names a user or a room");
        var tagged = seen.Where(k => k.Tags.Length > 0).ToList();
        Assert.That(tagged.SelectMany(k => k.Tags.Split(',')).Select(t => t.Split('=')[0]).Distinct(), Is.EqualTo(new[] { "reason" }), "the only tag is a disconnect or refusal reason");
        Assert.That(tagged.Select(k => k.Instrument).Distinct(), Is.EquivalentTo(new[] { "chatmesh.disconnects", "chatmesh.handshakes.refused" }));
        Assert.That(seen.Where(k => k.Instrument is "chatmesh.rooms" or "chatmesh.history.bytes" or "chatmesh.room.joins" or "chatmesh.messages.direct").Select(k => k.Tags), Is.All.Empty, "the room instruments carry no tags at all");
        foreach (var group in seen.GroupBy(k => k.Instrument))
        {
            Assert.That(group.Count(), Is.LessThanOrEqualTo(Enum.GetValues<DisconnectReason>().Length), $"{group.Key}: a bounded set of tag values");
        }

        Assert.That(seen.Where(k => k.Instrument == "chatmesh.disconnects").Select(k => k.Tags), Is.SupersetOf(new[] { "reason=replaced", "reason=line_too_long", "reason=handshake_refused" }));
    }

    private static async Task<RawClient> JoinV2Async(ChatBroker broker, string nickname, string[] capabilities) =>
        (await JoinV2WithSessionAsync(broker, nickname, capabilities)).Client;

    private static async Task<(RawClient Client, string Session)> JoinV2WithSessionAsync(ChatBroker broker, string nickname, string[] capabilities)
    {
        var client = await RawClient.ConnectAsync(broker.LocalEndPoint);
        await client.SendAsync(new HelloMessage(nickname) { Capabilities = capabilities });
        var welcome = await client.ExpectAsync<WelcomeMessage>();
        Assert.That(welcome.Capabilities, Is.EqualTo(capabilities));
        return (client, welcome.Session!);
    }

    private static async Task JoinRoomAsync(RawClient client, string room, string[]? others = null, string? shownAs = null)
    {
        await client.SendAsync(new JoinMessage(room));
        var joined = await client.ExpectAsync<JoinedMessage>();
        Assert.That(joined with { Epoch = null, LastId = null }, Is.EqualTo(new JoinedMessage(shownAs ?? room, others ?? [])));
    }

    // Counters are added as the hub finishes its step, which a client can see a moment before: poll.
    private static async Task EventuallyAsync(Func<bool> condition, string what)
    {
        using var timeout = new CancellationTokenSource(RawClient.Deadline);
        using var poll = new PeriodicTimer(TimeSpan.FromMilliseconds(10));
        while (!condition())
        {
            try
            {
                await poll.WaitForNextTickAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                Assert.Fail($"not within the deadline: {what}");
            }
        }
    }
}
