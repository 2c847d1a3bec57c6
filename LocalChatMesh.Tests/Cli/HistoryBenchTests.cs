using System.Text.Json;
using LocalChatMesh.Cli.Bench;
using LocalChatMesh.Tests.Support;

namespace LocalChatMesh.Tests.Cli;

/// <summary><c>bench --join-history</c> and <c>bench --fill-rooms</c> against real brokers (issue 11's history measurements).</summary>
public class HistoryBenchTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(120);

    [Test]
    public async Task Join_history_fills_a_room_and_every_client_gets_the_whole_replay()
    {
        await using var cli = CliProcess.Start("bench", "--join-history", "50", "--clients", "6", "--size", "80", "--json");

        Assert.That(await cli.WaitForExitAsync(Deadline), Is.EqualTo(0), cli.Transcript());
        using var report = JsonDocument.Parse(cli.OutputLines.Single());
        var root = report.RootElement;
        Assert.Multiple(() =>
        {
            Assert.That(root.GetProperty("workload").GetString(), Is.EqualTo("join-history"));
            Assert.That(root.GetProperty("clients").GetInt32(), Is.EqualTo(6));
            Assert.That(root.GetProperty("expected").GetInt64(), Is.EqualTo(300));
            Assert.That(root.GetProperty("replayed").GetInt64(), Is.EqualTo(300));
            Assert.That(root.GetProperty("replayedMin").GetInt64(), Is.EqualTo(50));
            Assert.That(root.GetProperty("brokerJoinCpuSeconds").ValueKind, Is.EqualTo(JsonValueKind.Number), "a child broker is measured");
            Assert.That(root.GetProperty("brokerRssAfterBytes").GetInt64(), Is.GreaterThan(0));
            Assert.That(root.GetProperty("clean").GetBoolean(), Is.True);
        });
    }

    [Test]
    public async Task Join_history_beyond_what_the_broker_keeps_is_not_clean()
    {
        await using var broker = await TestBroker.StartAsync(options => options with { HistoryMessagesPerRoom = 30 });

        var report = await HistoryBench.RunAsync(new BenchOptions { Mode = BrokerMode.External, Server = broker.LocalEndPoint, Clients = 3, JoinHistory = 40 }, CancellationToken.None).WaitAsync(Deadline);

        Assert.That((report.Replayed, report.ReplayedMin, report.Expected, report.Clean), Is.EqualTo((90L, 30L, 120L, false)), report.ToText());
    }

    [Test]
    public async Task Fill_rooms_fills_each_room_and_the_byte_cap_takes_the_oldest_rooms_history_first()
    {
        // 64 rooms take two fillers of 32 rooms, each filler sending round robin over its rooms.
        // 20 chats of about 470 estimated bytes to each room are about 600 KB in all; a 100 KB
        // cap keeps only the last 200-odd chats: those of the second filler's last rounds.
        await using var broker = await TestBroker.StartAsync(options => options with { HistoryBytes = 100_000, HistoryBytesPerRoom = 100_000 });

        var report = await HistoryBench.RunAsync(new BenchOptions { Mode = BrokerMode.External, Server = broker.LocalEndPoint, FillRooms = 64, Messages = 20, Size = 100 }, CancellationToken.None).WaitAsync(Deadline);

        Assert.Multiple(() =>
        {
            Assert.That(report.Clean, Is.True, report.ToText());
            Assert.That(report.Rooms, Is.EqualTo(64));
            Assert.That(report.KeptInFirstRoom, Is.Zero, "the first room filled is among the oldest");
            Assert.That(report.KeptInLastRoom, Is.InRange(1, 19), "the last room filled keeps its latest chats, not all");
            Assert.That(report.BrokerRssAfterBytes, Is.Null, "an external broker without a pid is not measured");
        });

        // Without the cap every room keeps all it was sent.
        await using var roomy = await TestBroker.StartAsync();
        var full = await HistoryBench.RunAsync(new BenchOptions { Mode = BrokerMode.External, Server = roomy.LocalEndPoint, FillRooms = 64, Messages = 20, Size = 100 }, CancellationToken.None).WaitAsync(Deadline);
        Assert.That((full.KeptInFirstRoom, full.KeptInLastRoom, full.Clean), Is.EqualTo((20L, 20L, true)), full.ToText());
    }

    [TestCase("--join-history", "0", "error: --join-history must be from 1 to 100000")]
    [TestCase("--fill-rooms", "10001", "error: --fill-rooms must be from 1 to 10000")]
    public async Task Out_of_range_history_workloads_are_usage_errors(string option, string value, string error)
    {
        await using var cli = CliProcess.Start("bench", option, value);

        Assert.That(await cli.WaitForExitAsync(Deadline), Is.EqualTo(2), cli.Transcript());
        Assert.That(cli.ErrorLines, Is.EqualTo(new[] { error }));
    }

    [Test]
    public async Task History_workloads_refuse_the_fan_out_options()
    {
        await using var cli = CliProcess.Start("bench", "--join-history", "10", "--rooms", "2", "--clients", "4");

        Assert.That(await cli.WaitForExitAsync(Deadline), Is.EqualTo(2), cli.Transcript());
        Assert.That(cli.ErrorLines, Is.EqualTo(new[] { "error: --join-history and --fill-rooms take only --clients, --messages, --size and the broker options" }));
    }
}
