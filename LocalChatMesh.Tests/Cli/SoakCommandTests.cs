using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using LocalChatMesh.Cli.Bench;
using LocalChatMesh.Tests.Support;

namespace LocalChatMesh.Tests.Cli;

// Correctness of the soak only: timings are never asserted.
public class SoakCommandTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(90);

    [Test]
    public async Task A_short_soak_against_a_child_broker_exits_0_with_nothing_lost_and_a_timeline()
    {
        await using var cli = CliProcess.Start(
            "soak", "--minutes", "0.05", "--clients", "8", "--senders", "3", "--rate", "40", "--churn", "6",
            "--sample-interval", "1", "--settle", "0.5", "--json");

        var exitCode = await cli.WaitForExitAsync(Deadline);

        Assert.That(exitCode, Is.EqualTo(0), cli.Transcript());
        using var report = JsonDocument.Parse(cli.OutputLines.Last(line => line.StartsWith('{')));
        var root = report.RootElement;
        var timeline = root.GetProperty("timeline");
        Assert.Multiple(() =>
        {
            Assert.That(root.GetProperty("clean").GetBoolean(), Is.True, cli.Transcript());
            Assert.That(root.GetProperty("expected").GetInt64(), Is.EqualTo(8 * 3 * 120));
            Assert.That(root.GetProperty("received").GetInt64(), Is.EqualTo(8 * 3 * 120));
            Assert.That(root.GetProperty("lost").GetInt64(), Is.Zero);
            Assert.That(root.GetProperty("duplicated").GetInt64(), Is.Zero);
            Assert.That(root.GetProperty("outOfOrder").GetInt64(), Is.Zero);
            Assert.That(root.GetProperty("churnConnections").GetInt64(), Is.Positive);
            Assert.That(root.GetProperty("churnFailures").GetInt64(), Is.Zero);
            Assert.That(timeline.GetArrayLength(), Is.GreaterThanOrEqualTo(2));
            Assert.That(timeline.EnumerateArray().Select(sample => sample.GetProperty("lost").GetInt64()), Is.All.Zero);
            Assert.That(timeline[timeline.GetArrayLength() - 1].GetProperty("final").GetBoolean(), Is.True);
            Assert.That(timeline.EnumerateArray().Select(sample => sample.GetProperty("rssBytes").ValueKind), Is.All.EqualTo(JsonValueKind.Number), "a child broker's memory is read from /proc");
            Assert.That(root.GetProperty("settledRssBytes").GetInt64(), Is.Positive);
            Assert.That(root.GetProperty("peakRssBytes").GetInt64(), Is.Positive);
        });
    }

    [Test]
    public async Task An_in_process_soak_churns_every_way_and_stable_traffic_is_untouched()
    {
        var report = await SoakRunner.RunAsync(new SoakOptions
        {
            Mode = BrokerMode.InProcess,
            Duration = TimeSpan.FromSeconds(2),
            Clients = 6,
            Senders = 2,
            Rate = 50,
            Churn = 4,
            SampleInterval = TimeSpan.FromSeconds(0.5),
            Settle = TimeSpan.Zero,
        }).WaitAsync(Deadline);

        Assert.Multiple(() =>
        {
            Assert.That(report.Expected, Is.EqualTo(6 * 2 * 100));
            Assert.That(report.Received, Is.EqualTo(report.Expected));
            Assert.That(report.Lost, Is.Zero);
            Assert.That(report.Duplicated, Is.Zero);
            Assert.That(report.OutOfOrder, Is.Zero);
            Assert.That(report.Unexpected, Is.Zero, "every chat line is from a stable sender or the churn");
            Assert.That(report.ErrorsReceived, Is.Zero, report.FirstError);
            Assert.That(report.StableDisconnected, Is.Zero);
            Assert.That(report.ChurnFailures, Is.Zero, report.FirstChurnFailure);
            Assert.That(new[] { report.ChurnGraceful, report.ChurnReset, report.ChurnHalfLine, report.ChurnNoHello }, Is.All.Positive);
            Assert.That(report.Timeline, Has.Count.GreaterThanOrEqualTo(2));
            Assert.That(report.Timeline[^1].Final, Is.True);
            Assert.That(report.Timeline.Select(sample => sample.GcHeapBytes), Is.All.Not.Null, "in-process memory includes the GC heap");
            Assert.That(report.Clean, Is.True);
            Assert.That(report.ToText(), Does.Contain("result:            clean"));
        });
    }

    [TestCase("--minutes", "0", "--minutes must be positive")]
    [TestCase("--minutes", "NaN", "--minutes must be positive")]
    [TestCase("--clients", "0", "--clients must be at least 1")]
    [TestCase("--senders", "60", "--senders must not exceed --clients")]
    [TestCase("--rate", "0", "--rate must be positive")]
    [TestCase("--churn", "-1", "--churn must not be negative")]
    [TestCase("--sample-interval", "0", "--sample-interval must be positive")]
    [TestCase("--settle", "-1", "--settle must be between 0 and 3600 seconds")]
    [TestCase("--broker-pid", "1", "--broker-pid needs --server")]
    [TestCase("--server", "nowhere", "--server:")]
    public async Task A_bad_option_exits_2_with_one_line_naming_it(string option, string value, string message)
    {
        await using var cli = CliProcess.Start("soak", option, value);

        var exitCode = await cli.WaitForExitAsync();

        Assert.That(exitCode, Is.EqualTo(2), cli.Transcript());
        Assert.That(cli.ErrorLines, Has.Count.EqualTo(1).And.One.StartsWith($"error: {message}"), cli.Transcript());
        Assert.That(cli.OutputLines, Is.Empty);
    }

    [Test]
    public void Options_are_refused_with_the_first_problem()
    {
        var valid = new SoakOptions();
        Assert.Multiple(() =>
        {
            Assert.That(valid.Validate(), Is.Null);
            Assert.That(valid.MessagesPerSender, Is.EqualTo(5 * 60 * 50));
            Assert.That(valid.EffectiveSampleInterval, Is.EqualTo(TimeSpan.FromSeconds(10)));
            Assert.That((valid with { Duration = TimeSpan.FromSeconds(6) }).EffectiveSampleInterval, Is.EqualTo(TimeSpan.FromSeconds(0.6)), "short runs sample more often");
            Assert.That((valid with { Duration = TimeSpan.Zero }).Validate(), Does.StartWith("--minutes"));
            Assert.That((valid with { Senders = 0 }).Validate(), Is.Null, "churn without stable chat is allowed");
            Assert.That((valid with { Churn = 0 }).Validate(), Is.Null);
            Assert.That((valid with { Mode = BrokerMode.External }).Validate(), Is.EqualTo("a server address is needed"));
            Assert.That((valid with { Mode = BrokerMode.InProcess, BrokerEnvironment = ["A=B"] }).Validate(), Does.StartWith("--broker-env"));
            Assert.That(
                (valid with { Duration = TimeSpan.FromDays(7), Rate = 1000, Clients = 1000, Senders = 100 }).Validate(),
                Does.StartWith("the receivers would need"));
        });
    }

    [Test]
    public async Task A_receiver_counts_gaps_while_running_and_tells_churn_from_foreign_lines()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync((IPEndPoint)listener.LocalEndpoint);
        using var broker = await listener.AcceptSocketAsync();
        var progress = new BenchProgress(new BenchOptions { Clients = 1, Senders = 2, Messages = 10 });
        using var client = new BenchClient(socket, "b0", progress);
        client.StartReceiving();

        async Task ChatAsync(int sender, int sequence, long received)
        {
            var line = BenchPayload.CreateLine(sender, 64);
            BenchPayload.Stamp(line, sequence, System.Diagnostics.Stopwatch.GetTimestamp());
            await SendAsync($$"""{"type":"chat","nickname":"b{{sender}}","text":"{{BenchPayload.TextOf(line)}}"}""", received);
        }

        async Task SendAsync(string line, long received)
        {
            await broker.SendAsync(Encoding.UTF8.GetBytes(line + "\n"), SocketFlags.None);
            using var timeout = new CancellationTokenSource(Deadline);
            while (client.Received + client.Churn + client.Foreign < received)
            {
                await Task.Delay(5, timeout.Token);
            }
        }

        await ChatAsync(sender: 0, sequence: 0, received: 1);
        await ChatAsync(sender: 0, sequence: 3, received: 2);
        await ChatAsync(sender: 1, sequence: 1, received: 3);
        var missingWithGaps = client.Missing;
        await ChatAsync(sender: 0, sequence: 1, received: 4);
        var missingAfterOneLate = client.Missing;
        await ChatAsync(sender: 0, sequence: 1, received: 5);
        await ChatAsync(sender: BenchPayload.ChurnSender, sequence: 0, received: 6);
        await SendAsync("""{"type":"chat","nickname":"x","text":"hello"}""", received: 7);

        Assert.Multiple(() =>
        {
            Assert.That(missingWithGaps, Is.EqualTo(3), "0.1, 0.2 and 1.0 are behind a later message");
            Assert.That(missingAfterOneLate, Is.EqualTo(2));
            Assert.That(client.Missing, Is.EqualTo(2));
            Assert.That(client.OutOfOrder, Is.EqualTo(1));
            Assert.That(client.Duplicated, Is.EqualTo(1));
            Assert.That(client.Unique, Is.EqualTo(4));
            Assert.That(client.Churn, Is.EqualTo(1));
            Assert.That(client.Foreign, Is.EqualTo(1));
        });
    }
}
