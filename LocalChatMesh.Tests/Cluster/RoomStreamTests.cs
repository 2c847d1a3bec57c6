using LocalChatMesh.Cluster;
using LocalChatMesh.Cluster.Nats;
using LocalChatMesh.Storage;
using static LocalChatMesh.Tests.Cluster.ClusterTesting;

namespace LocalChatMesh.Tests.Cluster;

/// <summary>The room stream against a real nats-server: one order per room for every broker, ids, history reads.</summary>
public sealed class RoomStreamTests : NatsServerTests
{
    [Test]
    public async Task Two_brokers_appending_at_once_see_every_room_in_one_order()
    {
        var options = Options(Server);
        await using var first = await NatsClusterEngine.ConnectAsync(options);
        await using var second = await NatsClusterEngine.ConnectAsync(options);
        string[] rooms = ["LOBBY", "DEV", "OPS.ONCALL"];
        const int PerRoomPerBroker = 60;

        async Task<List<long>> AppendAll(NatsClusterEngine engine, string name)
        {
            var ids = new List<long>();
            for (var i = 0; i < PerRoomPerBroker; i++)
            {
                foreach (var room in rooms)
                {
                    var kind = i % 10 == 0 ? RoomEventKind.Presence : RoomEventKind.Chat;
                    ids.Add(await engine.AppendAsync(room, kind, Bytes($"{name} {room} {i}")));
                }
            }

            return ids;
        }

        var total = 2 * rooms.Length * PerRoomPerBroker;
        var readFirst = ReadAsync(first, total);
        var readSecond = ReadAsync(second, total);
        var appended = await Task.WhenAll(AppendAll(first, "first"), AppendAll(second, "second"));
        var seenByFirst = await readFirst;
        var seenBySecond = await readSecond;

        Assert.That(seenByFirst, Has.Count.EqualTo(total));
        Assert.That(seenByFirst.Select(e => e.Sequence), Is.Ordered.Ascending.And.Unique);
        Assert.That(seenByFirst.Select(e => e.Sequence), Is.EquivalentTo(appended.SelectMany(ids => ids)));
        foreach (var room in rooms)
        {
            var orderOnFirst = seenByFirst.Where(e => e.RoomKey == room).Select(e => (e.Sequence, e.Kind, Text(e))).ToList();
            var orderOnSecond = seenBySecond.Where(e => e.RoomKey == room).Select(e => (e.Sequence, e.Kind, Text(e))).ToList();
            Assert.That(orderOnFirst, Has.Count.EqualTo(2 * PerRoomPerBroker), room);
            Assert.That(orderOnSecond, Is.EqualTo(orderOnFirst), room);
        }

        // Each broker's own appends keep their order inside the room's one order.
        var firstInLobby = seenBySecond.Where(e => e.RoomKey == "LOBBY" && Text(e).StartsWith("first", StringComparison.Ordinal)).Select(Text);
        Assert.That(firstInLobby, Is.EqualTo(Enumerable.Range(0, PerRoomPerBroker).Select(i => $"first LOBBY {i}")));
    }

    [Test]
    public async Task A_reader_starting_after_an_id_gets_exactly_what_follows()
    {
        await using var engine = await NatsClusterEngine.ConnectAsync(Options(Server));
        var ids = new List<long>();
        for (var i = 0; i < 20; i++)
        {
            ids.Add(await engine.AppendAsync(i % 2 == 0 ? "A" : "B", RoomEventKind.Chat, Bytes($"m{i}")));
        }

        var rest = await ReadAsync(engine, 8, after: ids[11]);

        Assert.That(rest.Select(e => e.Sequence), Is.EqualTo(ids[12..]));
        Assert.That(rest.Select(Text), Is.EqualTo(Enumerable.Range(12, 8).Select(i => $"m{i}")));
    }

    [Test]
    public async Task An_append_repeated_with_its_deduplication_id_is_stored_once()
    {
        await using var first = await NatsClusterEngine.ConnectAsync(Options(Server));
        await using var second = await NatsClusterEngine.ConnectAsync(first.Options);

        var once = await first.AppendAsync("LOBBY", RoomEventKind.Presence, Bytes("alice left"), "left:ALICE:7:LOBBY");
        var again = await second.AppendAsync("LOBBY", RoomEventKind.Presence, Bytes("alice left"), "left:ALICE:7:LOBBY");
        var next = await second.AppendAsync("LOBBY", RoomEventKind.Chat, Bytes("after"));

        Assert.That(again, Is.EqualTo(once));
        Assert.That((await ReadAsync(first, 2)).Select(e => e.Sequence), Is.EqualTo(new[] { once, next }));
    }

    [Test]
    public async Task Room_keys_with_dots_and_any_unicode_travel_intact_and_stay_apart()
    {
        await using var engine = await NatsClusterEngine.ConnectAsync(Options(Server));
        string[] keys = ["DEV.OPS", "DEV_2EOPS", "DEV", "ÉQUIPE_", "_"];
        foreach (var key in keys)
        {
            await engine.AppendAsync(key, RoomEventKind.Chat, Bytes(key));
        }

        var events = await ReadAsync(engine, keys.Length);

        Assert.That(events.Select(e => e.RoomKey), Is.EqualTo(keys));
        Assert.That(events.Select(Text), Is.EqualTo(keys));
        Assert.That(await engine.ReadLastChatsAsync("DEV", 10), Has.Count.EqualTo(1));
    }

    [Test]
    public async Task History_reads_the_last_chats_of_one_room_without_presence()
    {
        await using var engine = await NatsClusterEngine.ConnectAsync(Options(Server));
        var chats = new List<long>();
        for (var i = 0; i < 10; i++)
        {
            chats.Add(await engine.AppendAsync("DEV", RoomEventKind.Chat, Bytes($"dev {i}")));
            await engine.AppendAsync("DEV", RoomEventKind.Presence, Bytes($"joined {i}"));
            await engine.AppendAsync("LOBBY", RoomEventKind.Chat, Bytes($"lobby {i}"));
        }

        var last3 = await engine.ReadLastChatsAsync("DEV", 3);
        var all = await engine.ReadLastChatsAsync("DEV", 100);

        Assert.That(last3.Select(Text), Is.EqualTo(new[] { "dev 7", "dev 8", "dev 9" }));
        Assert.That(last3.Select(e => e.Sequence), Is.EqualTo(chats[7..]));
        Assert.That(last3.Select(e => e.Kind), Is.All.EqualTo(RoomEventKind.Chat));
        Assert.That(all.Select(e => e.Sequence), Is.EqualTo(chats));
        Assert.That(await engine.ReadLastChatsAsync("EMPTY", 5), Is.Empty);
        Assert.That(await engine.ReadLastChatsAsync("DEV", 0), Is.Empty);
    }

    [Test]
    public async Task History_after_an_id_is_complete_while_that_chat_is_held()
    {
        await using var engine = await NatsClusterEngine.ConnectAsync(Options(Server));
        var chats = new List<long>();
        for (var i = 0; i < 6; i++)
        {
            chats.Add(await engine.AppendAsync("DEV", RoomEventKind.Chat, Bytes($"dev {i}")));
        }

        var resumed = await engine.ReadChatsAfterAsync("DEV", chats[2]);
        var upToDate = await engine.ReadChatsAfterAsync("DEV", chats[^1]);
        var fromNothing = await engine.ReadChatsAfterAsync("DEV", 0);

        Assert.That(resumed.Chats.Select(e => e.Sequence), Is.EqualTo(chats[3..]));
        Assert.That(resumed.Complete, Is.True);
        Assert.That(upToDate.Chats, Is.Empty);
        Assert.That(upToDate.Complete, Is.True);
        Assert.That(fromNothing.Chats.Select(e => e.Sequence), Is.EqualTo(chats));
        Assert.That(fromNothing.Complete, Is.False, "with an age limit nobody can tell what aged out before the first chat held");
    }

    [Test]
    public async Task Retention_keeps_the_newest_chats_per_room_and_a_resume_past_them_is_incomplete()
    {
        var options = Options(Server) with { History = new ChatStoreRetention(3, Timeout.InfiniteTimeSpan) };
        await using var engine = await NatsClusterEngine.ConnectAsync(options);
        var chats = new List<long>();
        for (var i = 0; i < 5; i++)
        {
            chats.Add(await engine.AppendAsync("DEV", RoomEventKind.Chat, Bytes($"dev {i}")));
        }

        var quiet = await engine.AppendAsync("QUIET", RoomEventKind.Chat, Bytes("only one"));

        var held = await engine.ReadLastChatsAsync("DEV", 10);
        var tooLate = await engine.ReadChatsAfterAsync("DEV", chats[0]);
        var inTime = await engine.ReadChatsAfterAsync("DEV", chats[2]);
        var quietFromStart = await engine.ReadChatsAfterAsync("QUIET", 0);
        var fullFromStart = await engine.ReadChatsAfterAsync("DEV", 0);

        Assert.That(held.Select(e => e.Sequence), Is.EqualTo(chats[2..]));
        Assert.That(tooLate.Chats.Select(e => e.Sequence), Is.EqualTo(chats[2..]));
        Assert.That(tooLate.Complete, Is.False);
        Assert.That(inTime.Complete, Is.True);
        Assert.That(quietFromStart.Chats.Select(e => e.Sequence), Is.EqualTo(new[] { quiet }));
        Assert.That(quietFromStart.Complete, Is.True, "below the count limit with no age limit nothing was ever dropped");
        Assert.That(fullFromStart.Complete, Is.False);
    }
}
