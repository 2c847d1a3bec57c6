using System.Diagnostics;
using System.Net.Sockets;
using System.Text.Json;
using LocalChatMesh.Cli.Bench;
using LocalChatMesh.Tests.Support;

namespace LocalChatMesh.Tests.Cli;

// bench and soak always end with a report: a broker that stops reading ends the run after the
// idle timeout, and a cancellation (Ctrl+C) gives the partial report.
public class BenchStopTests
{
    private static readonly TimeSpan IdleTimeout = TimeSpan.FromSeconds(1);

    // The idle timeout plus slack for a busy machine; the run used to wait forever.
    private static readonly TimeSpan Slack = TimeSpan.FromSeconds(20);

    [Test]
    public async Task A_bench_against_a_broker_that_stops_reading_ends_with_a_report_after_the_idle_timeout()
    {
        using var broker = FakeBroker.Start();
        var watch = Stopwatch.StartNew();
        var run = BenchRunner.RunAsync(new BenchOptions
        {
            Mode = BrokerMode.External,
            Server = broker.EndPoint,
            Clients = 1,
            Senders = 1,
            Messages = 1_000_000,
            Size = 7000,
            IdleTimeout = IdleTimeout,
        });
        using var connection = await StopReadingAfterWelcomeAsync(broker);

        var report = await run.WaitAsync(IdleTimeout + Slack);

        Assert.Multiple(() =>
        {
            Assert.That(report.Partial, Is.True);
            Assert.That(report.StopReason, Does.StartWith("stalled"));
            Assert.That(report.Sent, Is.Positive.And.LessThan(1_000_000));
            Assert.That(report.Lost, Is.EqualTo(1_000_000));
            Assert.That(report.Clean, Is.False);
            Assert.That(report.ToText(), Does.StartWith("partial:           stalled"));
            Assert.That(watch.Elapsed, Is.GreaterThanOrEqualTo(IdleTimeout));
        });
    }

    [Test]
    public async Task A_soak_against_a_broker_that_stops_reading_ends_early_with_a_report()
    {
        using var broker = FakeBroker.Start();
        var run = SoakRunner.RunAsync(new SoakOptions
        {
            Mode = BrokerMode.External,
            Server = broker.EndPoint,
            Duration = TimeSpan.FromMinutes(10),
            Clients = 1,
            Senders = 1,
            Rate = 5000,
            Size = 7000,
            Churn = 0,
            Settle = TimeSpan.Zero,
            IdleTimeout = IdleTimeout,
        });
        using var connection = await StopReadingAfterWelcomeAsync(broker);

        var report = await run.WaitAsync(IdleTimeout + Slack);

        Assert.Multiple(() =>
        {
            Assert.That(report.Partial, Is.True);
            Assert.That(report.StopReason, Does.StartWith("stalled"));
            Assert.That(report.Timeline, Is.Not.Empty);
            Assert.That(report.Timeline[^1].Final, Is.True);
            Assert.That(report.TrafficSeconds, Is.LessThan(60), "the stall ended the traffic, not the 10 minutes");
            Assert.That(report.Clean, Is.False);
            Assert.That(report.ToSummaryText(), Does.Contain("result:            NOT clean"));
        });
    }

    [Test]
    public async Task A_cancelled_bench_returns_the_partial_report_so_far()
    {
        using var cancel = new CancellationTokenSource();
        BenchProgress? progress = null;
        var run = BenchRunner.RunAsync(
            new BenchOptions { Mode = BrokerMode.InProcess, Clients = 3, Senders = 1, Messages = 100_000, Rate = 50 },
            started: p => progress = p,
            cancel.Token);

        // Cancel once some messages have gone round.
        using (var deadline = new CancellationTokenSource(Slack))
        {
            while (progress is null || progress.Delivered < 3)
            {
                await Task.Delay(20, deadline.Token);
            }
        }

        await cancel.CancelAsync();
        var report = await run.WaitAsync(Slack);

        Assert.Multiple(() =>
        {
            Assert.That(report.Partial, Is.True);
            Assert.That(report.StopReason, Is.EqualTo("cancelled"));
            Assert.That(report.Expected, Is.EqualTo(300_000), "what was planned");
            Assert.That(report.Received, Is.GreaterThanOrEqualTo(3));
            Assert.That(report.Sent, Is.Positive.And.LessThan(100_000));
            Assert.That(report.Duplicated, Is.Zero);
            Assert.That(report.OutOfOrder, Is.Zero);
            Assert.That(report.Clean, Is.False);
            Assert.That(progress!.Phase, Is.EqualTo(BenchPhase.Done));
        });
    }

    [Test]
    public async Task A_cancelled_soak_returns_the_partial_report_with_its_timeline()
    {
        using var cancel = new CancellationTokenSource();
        var run = SoakRunner.RunAsync(
            new SoakOptions
            {
                Mode = BrokerMode.InProcess,
                Duration = TimeSpan.FromMinutes(10),
                Clients = 3,
                Senders = 1,
                Rate = 50,
                Churn = 2,
                SampleInterval = TimeSpan.FromSeconds(0.3),
                Settle = TimeSpan.FromMinutes(1),
            },
            sampled: sample =>
            {
                if (!sample.Final)
                {
                    cancel.Cancel();
                }
            },
            cancellationToken: cancel.Token);

        var report = await run.WaitAsync(Slack);

        Assert.Multiple(() =>
        {
            Assert.That(report.Partial, Is.True);
            Assert.That(report.StopReason, Is.EqualTo("cancelled"));
            Assert.That(report.Timeline, Has.Count.EqualTo(2), "the first sample, then the final one");
            Assert.That(report.Timeline[^1].Final, Is.True);
            Assert.That(report.Clean, Is.False);
            Assert.That(report.ToSummaryText(), Does.StartWith("partial:           cancelled"));
        });
    }

    [Test]
    public async Task Ctrl_C_on_a_bench_prints_the_partial_json_report_and_exits_130()
    {
        await using var cli = CliProcess.Start(
            "bench", "--in-process", "--clients", "3", "--senders", "1", "--messages", "100000", "--rate", "50", "--json");

        // Whatever phase the signal lands in, the report comes, marked partial. (SIGTERM, not
        // SIGINT: a child of a non-interactive shell may inherit SIGINT ignored; Cocona treats both alike.)
        await Task.Delay(TimeSpan.FromSeconds(2));
        await cli.SignalAsync("TERM");
        var exitCode = await cli.WaitForExitAsync();

        Assert.That(exitCode, Is.EqualTo(130), cli.Transcript());
        using var report = JsonDocument.Parse(cli.OutputLines.Single(line => line.StartsWith('{')));
        Assert.Multiple(() =>
        {
            Assert.That(report.RootElement.GetProperty("partial").GetBoolean(), Is.True);
            Assert.That(report.RootElement.GetProperty("stopReason").GetString(), Does.StartWith("cancelled"));
        });
    }

    [Test]
    public async Task Ctrl_C_on_a_soak_prints_the_timeline_so_far_and_a_partial_summary_and_exits_130()
    {
        await using var cli = CliProcess.Start(
            "soak", "--in-process", "--minutes", "10", "--clients", "3", "--senders", "1", "--rate", "20", "--churn", "2", "--sample-interval", "0.5");

        // Once the first sample is out, the traffic is under way.
        await cli.WaitForOutputLineAsync(line => System.Text.RegularExpressions.Regex.IsMatch(line, @"^ +[0-9]+\.[0-9] s "), "the first sample");
        await cli.SignalAsync("TERM");
        var exitCode = await cli.WaitForExitAsync();

        Assert.That(exitCode, Is.EqualTo(130), cli.Transcript());
        Assert.Multiple(() =>
        {
            Assert.That(cli.OutputLines, Has.One.EqualTo("partial:           cancelled"), cli.Transcript());
            Assert.That(cli.OutputLines, Has.One.EndsWith("  final"));
            Assert.That(cli.OutputLines[^1], Is.EqualTo("result:            NOT clean"));
        });
    }

    // Accepts the bench's one client, welcomes it, then never reads again: its socket fills.
    private static async Task<FakeBrokerConnection> StopReadingAfterWelcomeAsync(FakeBroker broker)
    {
        var connection = await broker.AcceptAsync();
        var hello = await connection.ReadLineAsync();
        Assert.That(hello, Does.Contain("\"hello\""));
        await connection.SendLineAsync("""{"type":"welcome","nickname":"b0"}""");
        return connection;
    }
}
