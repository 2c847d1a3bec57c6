using LocalChatMesh.Cli.Bench;

namespace LocalChatMesh.Tests.Cli;

// Correctness of the load generator only: timings are never asserted.
public class BenchCommandTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    [Test]
    public async Task A_tiny_in_process_bench_delivers_everything_once_and_in_order()
    {
        var report = await BenchRunner.RunAsync(new BenchOptions
        {
            Mode = BrokerMode.InProcess,
            Clients = 5,
            Senders = 2,
            Messages = 20,
        }).WaitAsync(Deadline);

        Assert.Multiple(() =>
        {
            Assert.That(report.Expected, Is.EqualTo(5 * 2 * 20));
            Assert.That(report.Received, Is.EqualTo(report.Expected));
            Assert.That(report.Lost, Is.Zero);
            Assert.That(report.Duplicated, Is.Zero);
            Assert.That(report.OutOfOrder, Is.Zero);
            Assert.That(report.ErrorsReceived, Is.Zero);
            Assert.That(report.Clean, Is.True);
        });
    }

    [Test]
    public async Task A_paced_bench_with_a_silent_client_loses_nothing_for_the_readers()
    {
        var report = await BenchRunner.RunAsync(new BenchOptions
        {
            Mode = BrokerMode.InProcess,
            Clients = 4,
            Senders = 2,
            Messages = 10,
            Rate = 200,
            SilentClient = true,
        }).WaitAsync(Deadline);

        Assert.Multiple(() =>
        {
            Assert.That(report.Received, Is.EqualTo(4 * 2 * 10));
            Assert.That(report.Clean, Is.True);
        });
    }

    [Test]
    public async Task Join_only_waits_until_everybody_has_seen_everybody()
    {
        var report = await BenchRunner.RunAsync(new BenchOptions
        {
            Mode = BrokerMode.InProcess,
            Clients = 20,
            JoinOnly = true,
        }).WaitAsync(Deadline);

        Assert.Multiple(() =>
        {
            Assert.That(report.JoinOnly, Is.True);
            Assert.That(report.Expected, Is.Zero);
            Assert.That(report.ErrorsReceived, Is.Zero);
        });
    }

    [Test]
    public async Task Join_only_reads_the_brokers_rss_idle_and_joined_when_it_can_measure_it()
    {
        // An "external" broker whose process id is this test process: its RSS is readable.
        await using var broker = await ChatBroker.StartAsync(BrokerOptions.Default with { EndPoint = new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0) });
        var report = await BenchRunner.RunAsync(new BenchOptions
        {
            Mode = BrokerMode.External,
            Server = broker.LocalEndPoint,
            BrokerPid = Environment.ProcessId,
            Clients = 10,
            JoinOnly = true,
            Settle = TimeSpan.Zero,
        }).WaitAsync(Deadline);

        Assert.Multiple(() =>
        {
            Assert.That(report.BrokerIdleRssBytes, Is.GreaterThan(0));
            Assert.That(report.BrokerJoinedRssBytes, Is.GreaterThan(0));
            Assert.That(report.BrokerRssPerClientBytes, Is.EqualTo((report.BrokerJoinedRssBytes - report.BrokerIdleRssBytes) / 10));
            Assert.That(report.ToText(), Does.Contain("KB per connection"));
        });
    }

    [Test]
    public async Task Join_only_against_an_in_process_broker_leaves_the_rss_figures_out()
    {
        var report = await BenchRunner.RunAsync(new BenchOptions { Mode = BrokerMode.InProcess, Clients = 3, JoinOnly = true }).WaitAsync(Deadline);

        Assert.Multiple(() =>
        {
            Assert.That(report.BrokerIdleRssBytes, Is.Null);
            Assert.That(report.BrokerJoinedRssBytes, Is.Null);
            Assert.That(report.ToJson(), Does.Not.Contain("brokerIdleRssBytes"));
        });
    }

    [Test]
    public void A_negative_settle_is_refused() =>
        Assert.That(new BenchOptions { Settle = TimeSpan.FromSeconds(-1) }.Validate(), Is.EqualTo("--settle must be from 0 to 600 seconds"));

    [Test]
    public void The_payload_round_trips_sender_sequence_and_timestamp()
    {
        var line = BenchPayload.CreateLine(sender: 7, size: 64);
        BenchPayload.Stamp(line, sequence: 123, timestamp: 987654321012);
        var text = BenchPayload.TextOf(line);

        var read = BenchPayload.TryRead(System.Text.Encoding.UTF8.GetBytes(text), out var sender, out var sequence, out var timestamp);

        Assert.Multiple(() =>
        {
            Assert.That(text, Has.Length.EqualTo(64));
            Assert.That(read, Is.True);
            Assert.That((sender, sequence, timestamp), Is.EqualTo((7, 123, 987654321012L)));
        });
    }

    [TestCase(0L)]
    [TestCase(127L)]
    [TestCase(128L)]
    [TestCase(1_000L)]
    [TestCase(123_456L)]
    public void The_latency_histogram_reports_within_two_percent(long microseconds)
    {
        var histogram = new LatencyHistogram();
        histogram.Record(microseconds);

        Assert.That(histogram.Percentile(99), Is.EqualTo(microseconds).Within(2).Percent);
    }
}
