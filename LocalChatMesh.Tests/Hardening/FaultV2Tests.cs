using System.Globalization;
using System.Net;
using LocalChatMesh.Protocol;
using LocalChatMesh.Tests.Support;

namespace LocalChatMesh.Tests.Hardening;

/// <summary>
/// Faults with rooms against a real broker: a version 2 client killed in several rooms with a full
/// queue, and churn of clients joining and leaving rooms while others chat in them. Stable members
/// must lose nothing and all see one order per room; the broker's accounting (participants,
/// connections, queued bytes, rooms, history) must return to its baseline.
/// </summary>
public class FaultV2Tests
{
    private const int SoftLimit = 16 * 1024;
    private const int HardLimit = 64 * 1024;

    private static readonly string[] RoomsOnly = [ChatCapabilities.Rooms];
    private static readonly string Padding = new('p', 1000);

    [Test]
    public async Task A_v2_client_reset_in_several_rooms_with_a_full_queue_costs_the_others_nothing_and_leaves_no_trace()
    {
        const int AfterReset = 100;
        var roomsOf = new Dictionary<string, string[]>
        {
            ["h0"] = ["r0", "r1"],
            ["h1"] = ["r1", "r2"],
            ["watcher"] = ["r0", "r1", "r2"],
        };
        string[] senders = ["h0", "h1"];
        await using var broker = await TestBroker.StartAsync(o => o with
        {
            OutboundSoftLimitBytes = SoftLimit,
            OutboundHardLimitBytes = HardLimit,
            DisconnectGrace = TimeSpan.FromMinutes(5), // the reset ends it, not the slow-consumer rule
            HistoryMessagesPerRoom = 0,
        });
        using var events = new EventRecorder(broker, e => e is not ChatEvent);
        using var gauges = new BrokerGauges(broker);

        // Stuck joins all three rooms first and then never reads; a small receive buffer keeps the
        // kernel from hiding its backlog.
        var stuck = await JoinV2Async(broker.LocalEndPoint, "stuck", RoomsOnly, receiveBufferSize: 4096);
        var healthy = new Dictionary<string, RawClient>();
        try
        {
            foreach (var room in new[] { "r0", "r1", "r2" })
            {
                await JoinRoomAsync(stuck, room, []);
            }

            foreach (var (nickname, rooms) in roomsOf)
            {
                var client = await JoinV2Async(broker.LocalEndPoint, nickname, RoomsOnly);
                healthy.Add(nickname, client);
                foreach (var room in rooms)
                {
                    // Joined before anybody chats: each member hears its rooms from the first chat on.
                    await client.SendAsync(new JoinMessage(room));
                    await ReadUntilAsync(client, m => m is JoinedMessage);
                }
            }

            var reading = healthy.ToDictionary(h => h.Key, h => Task.Run(() => ReadRoomsUntilEndAsync(h.Value, h.Key, roomsOf, senders)));

            // The senders chat in each of their rooms until the broker reports stuck lagging.
            var lagging = events.WaitForAsync<ClientLaggingEvent>(e => e.Nickname == "stuck");
            var sent = await Task.WhenAll(senders.Select(sender => Task.Run(async () =>
            {
                var n = 0;
                while (!lagging.IsCompleted)
                {
                    await ChatInEachAsync(healthy[sender], roomsOf[sender], n++);
                }

                return n;
            })));
            await lagging;
            Assert.That(gauges.QueuedBytes, Is.GreaterThan(SoftLimit), "stuck's backlog is still queued when it is killed");

            stuck.Reset();
            var gone = await events.WaitForAsync<ClientDisconnectedEvent>(e => e.Nickname == "stuck");
            Assert.That(gone.Reason, Is.AnyOf(DisconnectReason.TransportError, DisconnectReason.ClientClosed));

            await Task.WhenAll(senders.Select((sender, s) => Task.Run(async () =>
            {
                for (var n = sent[s]; n < sent[s] + AfterReset; n++)
                {
                    await ChatInEachAsync(healthy[sender], roomsOf[sender], n);
                }

                foreach (var room in roomsOf[sender])
                {
                    await healthy[sender].SendAsync(new ChatMessage("end") { Room = room });
                }
            })));

            foreach (var (nickname, view) in reading)
            {
                var (chats, left) = await view;
                foreach (var room in roomsOf[nickname])
                {
                    for (var s = 0; s < senders.Length; s++)
                    {
                        if (roomsOf[senders[s]].Contains(room))
                        {
                            Assert.That(chats[(room, senders[s])], Is.EqualTo(Enumerable.Range(0, sent[s] + AfterReset)), $"{nickname} heard every chat of {senders[s]} in {room} once, in order");
                        }
                    }

                    Assert.That(left[room], Is.EqualTo(new[] { "stuck" }), $"{nickname} heard stuck leave {room}, once");
                }
            }

            Assert.That(gauges.Total("chatmesh.deliveries.dropped"), Is.GreaterThan(0), "stuck's queue was full: messages for it were dropped");
            Assert.That(broker.Participants, Is.EqualTo(new[] { "h0", "h1", "watcher" }));
            Assert.That(broker.Rooms, Is.EqualTo(new[] { new RoomSummary("r0", 2), new RoomSummary("r1", 3), new RoomSummary("r2", 2) }), "stuck is in no room");
            await gauges.WaitForBaselineAsync(connections: 3, rooms: 3, historyBytes: 0);

            // The nickname is free and the rooms know nothing of the old stuck.
            await using (var again = await JoinV2Async(broker.LocalEndPoint, "stuck", RoomsOnly))
            {
                await JoinRoomAsync(again, "r1", ["h0", "h1", "watcher"]);
                await again.SendAsync(new WhoMessage("r2"));
                await again.ExpectErrorAsync("not in room 'r2'");
            }

            await events.WaitForCountAsync<ClientDisconnectedEvent>(2);
            await gauges.WaitForBaselineAsync(connections: 3, rooms: 3, historyBytes: 0);
        }
        finally
        {
            foreach (var client in healthy.Values)
            {
                await client.DisposeAsync();
            }

            await stuck.DisposeAsync();
        }

        await events.WaitForCountAsync<ClientDisconnectedEvent>(5);
        Assert.That(broker.Participants, Is.Empty);
        Assert.That(broker.Rooms, Is.Empty);
        await gauges.WaitForBaselineAsync(connections: 0, rooms: 0, historyBytes: 0);
    }

    [Test]
    public async Task Under_room_churn_stable_members_see_one_order_per_room_and_lose_nothing()
    {
        const int ChatsEach = 60;
        const int ShortLived = 120;
        var roomsOf = new Dictionary<string, string[]>
        {
            ["s0"] = ["a", "b", "c"],
            ["s1"] = ["a", "b"],
            ["s2"] = ["b", "c"],
            ["s3"] = ["a", "c"],
        };
        var stable = roomsOf.Keys.ToArray();
        await using var broker = await TestBroker.StartAsync();
        using var events = new EventRecorder(broker);
        using var gauges = new BrokerGauges(broker);
        var clients = new Dictionary<string, RawClient>();
        try
        {
            // s3 is granted meta too: its ids must increase within each room.
            foreach (var (nickname, rooms) in roomsOf)
            {
                var client = await JoinV2Async(broker.LocalEndPoint, nickname, nickname == "s3" ? [ChatCapabilities.Rooms, ChatCapabilities.Meta] : RoomsOnly);
                clients.Add(nickname, client);
                foreach (var room in rooms)
                {
                    await client.SendAsync(new JoinMessage(room));
                    Assert.That(await client.ExpectAsync<JoinedMessage>(), Has.Property(nameof(JoinedMessage.Room)).EqualTo(room));
                }
            }

            await gauges.WaitForBaselineAsync(connections: stable.Length, rooms: 3);
            var reading = clients.ToDictionary(c => c.Key, c => Task.Run(() => ReadUntilEndsAsync(c.Value, roomsOf[c.Key].Length)));
            var chatting = clients.Select(c => Task.Run(async () =>
            {
                var rooms = roomsOf[c.Key];
                for (var n = 0; n < ChatsEach; n++)
                {
                    await c.Value.SendAsync(new ChatMessage($"{c.Key}:{n}") { Room = rooms[n % rooms.Length] });
                }
            }));

            // Short-lived clients come and go in the stable members' rooms, 8 at a time, in every way a client can.
            var churning = Parallel.ForEachAsync(
                Enumerable.Range(0, ShortLived),
                new ParallelOptions { MaxDegreeOfParallelism = 8 },
                async (i, _) => await ShortLivedAsync(broker.LocalEndPoint, i));
            await Task.WhenAll(chatting);
            await churning;

            // Once every short-lived connection is gone, s0's "end" in each room is the last of it.
            await gauges.WaitForBaselineAsync(connections: stable.Length);
            foreach (var room in roomsOf["s0"])
            {
                await clients["s0"].SendAsync(new ChatMessage("end") { Room = room });
            }

            var views = new Dictionary<string, List<ServerMessage>>();
            foreach (var (nickname, view) in reading)
            {
                views[nickname] = await view;
            }

            var log = events.Snapshot();
            Assert.That(log.OfType<ChatEvent>().Count(e => stable.Contains(e.Nickname) && e.Text != "end"), Is.EqualTo(ChatsEach * stable.Length), "every stable chat was accepted");
            Assert.That(log.OfType<RoomJoinedEvent>().Count(e => !stable.Contains(e.Nickname)), Is.GreaterThan(ShortLived / 2), "the short-lived did join the rooms");
            foreach (var room in roomsOf["s0"])
            {
                var members = stable.Where(s => roomsOf[s].Contains(room)).ToList();
                var expected = members.ToDictionary(m => m, m => RoomView(log, room, log.ToList().FindIndex(e => e is RoomJoinedEvent j && j.Nickname == m && j.Room == room) + 1));
                foreach (var member in members)
                {
                    var heard = views[member].Where(m => RoomOf(m) == room).Select(WithoutMeta).ToList();
                    Assert.That(heard, Is.EqualTo(expected[member]), $"{member} heard exactly what the broker did in {room}");
                    foreach (var sender in members)
                    {
                        var texts = heard.OfType<ChatBroadcastMessage>().Where(m => m.Nickname == sender && m.Text != "end").Select(m => m.Text);
                        var rooms = roomsOf[sender];
                        var sent = Enumerable.Range(0, ChatsEach).Where(n => rooms[n % rooms.Length] == room).Select(n => $"{sender}:{n}");
                        Assert.That(texts, Is.EqualTo(sent), $"{member} heard {sender} in {room} once each, in order");
                    }
                }

                // One order: from the last stable join on, every member's view of the room is the same.
                var lastJoin = log.ToList().FindLastIndex(e => e is RoomJoinedEvent j && members.Contains(j.Nickname) && j.Room == room);
                var common = RoomView(log, room, lastJoin + 1);
                foreach (var member in members)
                {
                    var heard = views[member].Where(m => RoomOf(m) == room).Select(WithoutMeta).ToList();
                    Assert.That(heard.Skip(heard.Count - common.Count), Is.EqualTo(common), $"{member} saw {room} in the one order");
                }

                var ids = views["s3"].OfType<ChatBroadcastMessage>().Where(m => m.Room == room).Select(m => m.Id).ToList();
                if (roomsOf["s3"].Contains(room))
                {
                    Assert.That(ids, Is.All.Not.Null, $"s3 has ids in {room}");
                    Assert.That(ids, Is.Ordered.Ascending.And.Unique, $"ids increase within {room}");
                }
            }

            Assert.That(views.Values.SelectMany(v => v).OfType<ErrorMessage>(), Is.Empty, "the stable members got no error");
            Assert.That(broker.Participants, Is.EqualTo(stable));
            Assert.That(broker.Rooms.Select(r => (r.Room, r.Members)), Is.EquivalentTo(new[] { ("a", 3), ("b", 3), ("c", 3), ("lobby", 0) }), "rooms with history outlive their members; the short-lived are in none");
            await gauges.WaitForBaselineAsync(connections: stable.Length, rooms: 4);
        }
        finally
        {
            foreach (var client in clients.Values)
            {
                await client.DisposeAsync();
            }
        }
    }

    // One short-lived client, by its index, in the stable members' rooms.
    private static async Task ShortLivedAsync(IPEndPoint endPoint, int index)
    {
        var nickname = $"t{index:000}";
        switch (index % 6)
        {
            case 0:
                // Joins two rooms, chats, leaves one, quits.
                await using (var client = await JoinV2Async(endPoint, nickname, RoomsOnly))
                {
                    await client.SendAsync(new JoinMessage("a"));
                    await client.SendAsync(new JoinMessage("b"));
                    await client.SendAsync(new ChatMessage("churn") { Room = "a" });
                    await client.SendAsync(new LeaveMessage("a"));
                    await ReadUntilAsync(client, m => m is LeftMessage);
                }

                break;
            case 1:
                // Joins c and resets.
                var reset = await JoinV2Async(endPoint, nickname, RoomsOnly);
                await reset.SendAsync(new JoinMessage("c"));
                await ReadUntilAsync(reset, m => m is JoinedMessage);
                reset.Reset();
                break;
            case 2:
                // Joins every room with history, and quits without reading the replay.
                await using (var client = await JoinV2Async(endPoint, nickname, [.. ChatCapabilities.All]))
                {
                    foreach (var room in new[] { "a", "b", "c" })
                    {
                        await client.SendAsync(new JoinMessage(room) { History = 5 });
                    }

                    await ReadUntilAsync(client, m => m is JoinedMessage { Room: "c" });
                }

                break;
            case 3:
                // Joins b, then a second connection takes the nickname over and joins b too.
                var (first, session) = await JoinV2WithSessionAsync(endPoint, nickname, RoomsOnly);
                await using (first)
                {
                    await first.SendAsync(new JoinMessage("b"));
                    await ReadUntilAsync(first, m => m is JoinedMessage);
                    await using var second = await RawClient.ConnectAsync(endPoint);
                    await second.SendAsync(new HelloMessage(nickname) { Capabilities = RoomsOnly, Session = session });
                    await second.ExpectAsync<WelcomeMessage>();
                    await second.SendAsync(new JoinMessage("b"));
                    await second.SendAsync(new ChatMessage("taken over") { Room = "b" });
                    await ReadUntilAsync(second, m => m is ChatBroadcastMessage { Text: "taken over" });
                }

                break;
            case 4:
                // Bad requests in between, then joins a twice over.
                await using (var client = await JoinV2Async(endPoint, nickname, RoomsOnly))
                {
                    await client.SendAsync(new JoinMessage("a"));
                    await client.SendAsync(new ChatMessage("nope") { Room = "c" });
                    await client.SendLineAsync("""{"type":"join","room":"no room"}""");
                    await client.SendAsync(new LeaveMessage("a"));
                    await client.SendAsync(new JoinMessage("A"));
                    await client.SendAsync(new WhoMessage("a"));
                    await ReadUntilAsync(client, m => m is RosterMessage);
                }

                break;
            default:
                // A version 1 client chats in the lobby, which no stable member is in.
                await using (var client = await RawClient.JoinAsync(endPoint, nickname))
                {
                    await client.SendChatAsync("lobby only");
                    await ReadUntilAsync(client, m => m is ChatBroadcastMessage { Text: "lobby only" });
                }

                break;
        }
    }

    /// <summary>
    /// What a stable member of <paramref name="room"/> should have heard there from the event at
    /// <paramref name="start"/> on (just after its own join): the broker's order, up to s0's "end".
    /// Stable members do not join or leave after that, so they hear every join and leave.
    /// </summary>
    private static List<ServerMessage> RoomView(IReadOnlyList<BrokerEvent> log, string room, int start)
    {
        var expected = new List<ServerMessage>();
        foreach (var brokerEvent in log.Skip(start))
        {
            ServerMessage? message = brokerEvent switch
            {
                RoomJoinedEvent j when j.Room == room => new UserJoinedMessage(j.Nickname) { Room = room },
                RoomLeftEvent l when l.Room == room => new UserLeftMessage(l.Nickname) { Room = room },
                ChatEvent c when c.Room == room => new ChatBroadcastMessage(c.Nickname, c.Text) { Room = room },
                _ => null,
            };
            if (message is not null)
            {
                expected.Add(message);
            }

            if (message is ChatBroadcastMessage { Nickname: "s0", Text: "end" })
            {
                break;
            }
        }

        return expected;
    }

    private static string? RoomOf(ServerMessage message) => message switch
    {
        UserJoinedMessage m => m.Room,
        UserLeftMessage m => m.Room,
        ChatBroadcastMessage m => m.Room,
        _ => null,
    };

    private static ServerMessage WithoutMeta(ServerMessage message) =>
        message is ChatBroadcastMessage chat ? chat with { Id = null, Time = null } : message;

    private static async Task<RawClient> JoinV2Async(IPEndPoint endPoint, string nickname, string[] capabilities, int? receiveBufferSize = null) =>
        (await JoinV2WithSessionAsync(endPoint, nickname, capabilities, receiveBufferSize)).Client;

    private static async Task<(RawClient Client, string Session)> JoinV2WithSessionAsync(IPEndPoint endPoint, string nickname, string[] capabilities, int? receiveBufferSize = null)
    {
        var client = await RawClient.ConnectAsync(endPoint, receiveBufferSize);
        try
        {
            await client.SendAsync(new HelloMessage(nickname) { Capabilities = capabilities });
            var welcome = await client.ExpectAsync<WelcomeMessage>();
            Assert.That(welcome.Capabilities, Is.EqualTo(capabilities));
            return (client, welcome.Session!);
        }
        catch
        {
            await client.DisposeAsync();
            throw;
        }
    }

    private static async Task JoinRoomAsync(RawClient client, string room, string[] others)
    {
        await client.SendAsync(new JoinMessage(room));
        Assert.That(await client.ReceiveAsync(), Is.EqualTo(new JoinedMessage(room, others)));
    }

    private static async Task ChatInEachAsync(RawClient sender, string[] rooms, int n)
    {
        foreach (var room in rooms)
        {
            await sender.SendAsync(new ChatMessage(n.ToString(CultureInfo.InvariantCulture) + ":" + Padding) { Room = room });
        }
    }

    private static async Task ReadUntilAsync(RawClient client, Func<ServerMessage, bool> last)
    {
        while (!last(await client.ReceiveAsync()))
        {
        }
    }

    /// <summary>Reads everything until s0 has said "end" in each of the member's rooms.</summary>
    private static async Task<List<ServerMessage>> ReadUntilEndsAsync(RawClient client, int rooms)
    {
        var messages = new List<ServerMessage>();
        var ended = 0;
        while (ended < rooms)
        {
            var message = await client.ReceiveAsync();
            messages.Add(message);
            if (message is ChatBroadcastMessage { Nickname: "s0", Text: "end" })
            {
                ended++;
            }
        }

        return messages;
    }

    /// <summary>
    /// Reads until every sender in the reader's rooms has said "end" there; keeps each sender's
    /// sequence numbers per room (so the test's own memory stays flat) and who left each room.
    /// Anything else would be a lost or stray message.
    /// </summary>
    private static async Task<(Dictionary<(string Room, string Sender), List<int>> Chats, Dictionary<string, List<string>> Left)> ReadRoomsUntilEndAsync(
        RawClient client, string nickname, Dictionary<string, string[]> roomsOf, string[] senders)
    {
        var mine = roomsOf[nickname];
        var chats = new Dictionary<(string Room, string Sender), List<int>>();
        foreach (var room in mine)
        {
            foreach (var sender in senders.Where(s => roomsOf[s].Contains(room)))
            {
                chats[(room, sender)] = [];
            }
        }

        var left = mine.ToDictionary(room => room, _ => new List<string>());
        var ends = chats.Count;
        while (ends > 0)
        {
            switch (await client.ReceiveAsync())
            {
                case ChatBroadcastMessage { Text: "end" }:
                    ends--;
                    break;
                case ChatBroadcastMessage chat:
                    chats[(chat.Room!, chat.Nickname)].Add(int.Parse(chat.Text.AsSpan(0, chat.Text.IndexOf(':', StringComparison.Ordinal)), CultureInfo.InvariantCulture));
                    break;
                case UserLeftMessage leave:
                    left[leave.Room!].Add(leave.Nickname);
                    break;
                case UserJoinedMessage:
                    break;
                case var other:
                    Assert.Fail($"{nickname}: unexpected {other}");
                    break;
            }
        }

        return (chats, left);
    }
}
