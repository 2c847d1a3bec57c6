using System.Text.Json.Nodes;
using LocalChatMesh.Cli.Bench;
using LocalChatMesh.Tests.Support;

namespace LocalChatMesh.Tests.Cli;

// bench --rooms and --direct against a scripted v2 broker (the real one is not written yet).
public class BenchVersion2Tests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    [Test]
    public async Task Rooms_spread_the_clients_round_robin_and_each_room_gets_its_senders_messages()
    {
        await using var broker = new FakeV2Broker();

        var report = await BenchRunner.RunAsync(new BenchOptions
        {
            Mode = BrokerMode.External,
            Server = broker.EndPoint,
            Clients = 6,
            Senders = 4,
            Messages = 20,
            Rooms = 3,
        }).WaitAsync(Deadline);

        // bench-0: b0 b3 (both send), bench-1: b1 b4 (b1 sends), bench-2: b2 b5 (b2 sends).
        Assert.Multiple(() =>
        {
            Assert.That(report.Rooms, Is.EqualTo(3));
            Assert.That(report.Expected, Is.EqualTo((2 * 2 * 20) + (2 * 1 * 20) + (2 * 1 * 20)));
            Assert.That(report.Received, Is.EqualTo(report.Expected));
            Assert.That(report.Lost, Is.Zero);
            Assert.That(report.Misrouted, Is.Zero);
            Assert.That(report.Clean, Is.True, report.ToText());
            Assert.That(report.RoomDeliveries!.Select(room => (room.Room, room.Clients, room.Senders, room.Expected, room.Received, room.Lost)), Is.EqualTo(new[]
            {
                ("bench-0", 2, 2, 80L, 80L, 0L),
                ("bench-1", 2, 1, 40L, 40L, 0L),
                ("bench-2", 2, 1, 40L, 40L, 0L),
            }));
        });

        var control = broker.ControlLines.Select(line => JsonNode.Parse(line)!.AsObject()).ToList();
        var hellos = control.Where(m => (string?)m["type"] == "hello").ToList();
        var joins = control.Where(m => (string?)m["type"] == "join").Select(m => (string)m["room"]!).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(hellos, Has.Count.EqualTo(6));
            Assert.That(hellos.Select(h => string.Join(',', h["capabilities"]!.AsArray().Select(c => (string)c!))), Is.All.EqualTo("rooms,meta"));
            Assert.That(joins, Is.EquivalentTo(new[] { "bench-0", "bench-1", "bench-2", "bench-0", "bench-1", "bench-2" }));
        });
    }

    [Test]
    public async Task The_silent_client_joins_the_first_room_and_its_members_wait_for_it()
    {
        await using var broker = new FakeV2Broker();

        var report = await BenchRunner.RunAsync(new BenchOptions
        {
            Mode = BrokerMode.External,
            Server = broker.EndPoint,
            Clients = 4,
            Senders = 2,
            Messages = 5,
            Rooms = 2,
            SilentClient = true,
        }).WaitAsync(Deadline);

        Assert.Multiple(() =>
        {
            Assert.That(report.Received, Is.EqualTo(4 * 5));
            Assert.That(report.Clean, Is.True, report.ToText());
            Assert.That(broker.ControlLines, Has.Exactly(3).EqualTo("""{"type":"join","room":"bench-0"}"""), "b0, b2 and the silent client");
        });
    }

    [Test]
    public async Task A_broker_that_mixes_up_rooms_is_caught_as_misrouted()
    {
        await using var broker = new FakeV2Broker(ignoreRooms: true);

        var report = await BenchRunner.RunAsync(new BenchOptions
        {
            Mode = BrokerMode.External,
            Server = broker.EndPoint,
            Clients = 4,
            Senders = 2,
            Messages = 10,
            Rooms = 2,
        }).WaitAsync(Deadline);

        Assert.Multiple(() =>
        {
            Assert.That(report.Received, Is.EqualTo(report.Expected), "each room's own messages still arrive");
            // The run ends once every client has its own room's messages; the other room's copies
            // are caught as they arrive, so some may still be on their way then (at most 4 x 10).
            Assert.That(report.Misrouted, Is.InRange(1, 4 * 10), "the other room's sender is caught as misrouted");
            Assert.That(report.Clean, Is.False);
        });
    }

    [Test]
    public async Task Direct_pairs_count_each_message_at_the_recipient_and_back_at_the_sender()
    {
        await using var broker = new FakeV2Broker();

        var report = await BenchRunner.RunAsync(new BenchOptions
        {
            Mode = BrokerMode.External,
            Server = broker.EndPoint,
            Clients = 4,
            Senders = 3,
            Messages = 10,
            Direct = true,
        }).WaitAsync(Deadline);

        // Pairs b0-b1 (both send) and b2-b3 (b2 sends): 20 + 20 + 10 + 10.
        Assert.Multiple(() =>
        {
            Assert.That(report.Direct, Is.True);
            Assert.That(report.Rooms, Is.Null);
            Assert.That(report.RoomDeliveries, Is.Null);
            Assert.That(report.Expected, Is.EqualTo(60));
            Assert.That(report.Received, Is.EqualTo(60));
            Assert.That(report.Misrouted, Is.Zero);
            Assert.That(report.Clean, Is.True, report.ToText());
        });
        var hellos = broker.ControlLines.Select(line => JsonNode.Parse(line)!.AsObject()).Where(m => (string?)m["type"] == "hello");
        Assert.That(hellos.Select(h => string.Join(',', h["capabilities"]!.AsArray().Select(c => (string)c!))), Is.All.EqualTo("direct,meta"));
    }

    [Test]
    public async Task A_broker_that_does_not_grant_rooms_fails_the_run_with_one_line()
    {
        using var broker = FakeBroker.Start();
        var run = BenchRunner.RunAsync(new BenchOptions { Mode = BrokerMode.External, Server = broker.EndPoint, Clients = 2, Senders = 1, Messages = 1, Rooms = 2, ConnectConcurrency = 1 });

        // A v1 broker: a plain welcome, no capabilities.
        using var connection = await broker.AcceptAsync();
        var hello = await connection.ReadLineAsync();
        await connection.SendLineAsync("""{"type":"welcome","nickname":"b0"}""");

        var failure = Assert.ThrowsAsync<BenchException>(() => run.WaitAsync(Deadline));
        Assert.Multiple(() =>
        {
            Assert.That(hello, Does.Contain("\"capabilities\":[\"rooms\",\"meta\"]"));
            Assert.That(failure!.Message, Does.Contain("did not grant \"rooms\""));
        });
    }

    [Test]
    public void Room_and_direct_lines_are_v2_and_keep_the_payload_readable()
    {
        var chat = BenchPayload.CreateLine(sender: 3, size: 40, room: "bench-1");
        var direct = BenchPayload.CreateDirectLine(sender: 4, size: 40, to: "b5");
        BenchPayload.Stamp(chat, sequence: 9, timestamp: 12345);
        BenchPayload.Stamp(direct, sequence: 8, timestamp: 6789);

        Assert.Multiple(() =>
        {
            var chatJson = JsonNode.Parse(chat)!.AsObject();
            var directJson = JsonNode.Parse(direct)!.AsObject();
            Assert.That(((string?)chatJson["type"], (string?)chatJson["room"]), Is.EqualTo(("chat", "bench-1")));
            Assert.That(((string?)directJson["type"], (string?)directJson["to"]), Is.EqualTo(("direct", "b5")));
            Assert.That(BenchPayload.TryRead(System.Text.Encoding.UTF8.GetBytes(BenchPayload.TextOf(chat)), out var s1, out var q1, out var t1), Is.True);
            Assert.That((s1, q1, t1), Is.EqualTo((3, 9, 12345L)));
            Assert.That(BenchPayload.TryRead(System.Text.Encoding.UTF8.GetBytes(BenchPayload.TextOf(direct)), out var s2, out var q2, out var t2), Is.True);
            Assert.That((s2, q2, t2), Is.EqualTo((4, 8, 6789L)));
            Assert.That(BenchPayload.CreateLine(3, 40), Is.EqualTo(System.Text.Encoding.UTF8.GetBytes("{\"type\":\"chat\",\"text\":\"" + BenchPayload.TextOf(BenchPayload.CreateLine(3, 40)) + "\"}\n")), "v1 lines are unchanged");
        });
    }

    [TestCase(4, 5, false, "--rooms must not exceed --clients")]
    [TestCase(4, 0, false, "--rooms must be at least 1")]
    [TestCase(4, 2, true, "--rooms and --direct exclude each other")]
    [TestCase(5, 1, true, "--direct needs an even --clients")]
    public void Bad_v2_options_are_refused(int clients, int rooms, bool direct, string problem) =>
        Assert.That(new BenchOptions { Clients = clients, Senders = 1, Rooms = rooms, Direct = direct }.Validate(), Does.StartWith(problem));
}
