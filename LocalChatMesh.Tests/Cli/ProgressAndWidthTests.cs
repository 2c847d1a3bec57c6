using System.Text.Json;
using LocalChatMesh.Cli.Bench;
using LocalChatMesh.Tests.Support;

namespace LocalChatMesh.Tests.Cli;

// What a person sees: bench's progress line on a terminal (and nothing else when redirected),
// and soak's timeline within 100 columns.
public class ProgressAndWidthTests
{
    [Test]
    public async Task The_progress_line_is_rewritten_in_place_at_most_once_per_interval_and_erased_at_the_end()
    {
        using var writer = new StringWriter();
        var interval = TimeSpan.FromMilliseconds(50);
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var calls = 0;
        var progress = new TerminalProgress(writer, () => $"sending: {Interlocked.Increment(ref calls)}", interval);
        using (var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
        {
            while (progress.Writes < 3)
            {
                await Task.Delay(10, deadline.Token);
            }
        }

        await progress.DisposeAsync();
        var elapsed = watch.Elapsed;
        var text = writer.ToString();

        Assert.Multiple(() =>
        {
            Assert.That(progress.Writes, Is.LessThanOrEqualTo((elapsed / interval) + 1), "at most once per interval");
            Assert.That(text, Does.StartWith("\rsending: 1\u001b[K\rsending: 2\u001b[K"));
            Assert.That(text, Does.Not.Contain("\n"), "one line, rewritten in place");
            Assert.That(text, Does.EndWith("\r\u001b[K"), "erased, so the report starts on a clean line");
        });
    }

    [Test]
    public void The_progress_line_names_the_phase_and_its_counts()
    {
        var progress = new BenchProgress(new BenchOptions { Clients = 2000, Senders = 10, Messages = 500 });

        Assert.That(progress.Describe(), Is.EqualTo("joining: 0 of 2,000 clients"));
        progress.Phase = BenchPhase.Sending;
        Assert.That(progress.Describe(), Is.EqualTo("sending: sent 0 of 5,000, delivered 0 of 10,000,000"));
        progress.Phase = BenchPhase.Draining;
        Assert.That(progress.Describe(), Does.StartWith("draining: "));
    }

    [Test]
    public async Task With_standard_error_redirected_a_bench_prints_no_progress_and_one_json_line()
    {
        await using var cli = CliProcess.Start("bench", "--in-process", "--clients", "3", "--senders", "1", "--messages", "20", "--json");

        var exitCode = await cli.WaitForExitAsync();

        Assert.That(exitCode, Is.EqualTo(0), cli.Transcript());
        Assert.Multiple(() =>
        {
            Assert.That(cli.ErrorLines, Is.Empty);
            Assert.That(cli.OutputLines, Has.Count.EqualTo(1));
        });
        using var report = JsonDocument.Parse(cli.OutputLines[0]);
        Assert.That(report.RootElement.EnumerateObject().Select(property => property.Name), Is.EqualTo(new[]
        {
            "broker", "clients", "senders", "messages", "size", "rate", "silentClient", "joinOnly", "joinSeconds",
            "brokerJoinCpuSeconds", "benchJoinCpuSeconds", "expected", "received", "lost", "duplicated", "outOfOrder",
            "seconds", "deliveriesPerSecond", "latencyP50Ms", "latencyP90Ms", "latencyP99Ms", "latencyMaxMs",
            "brokerCpuSeconds", "brokerCpuPerMillionDeliveries", "brokerPeakRssBytes", "benchCpuSeconds",
            "benchCpuPerMillionDeliveries", "errorsReceived",
        }), "a v1 run without rooms writes exactly the fields it always did");
    }

    [TestCase(false)]
    [TestCase(true)]
    public void Soak_timeline_rows_fit_in_100_columns_even_for_a_week_long_run(bool gcHeap)
    {
        var widest = new SoakSample
        {
            ElapsedSeconds = 7 * 24 * 3600,
            Final = true,
            RssBytes = 99_999L * 1024 * 1024,
            GcHeapBytes = 9_999L * 1024 * 1024,
            BrokerCpuSeconds = 99_999.99,
            Churned = 999_999_999,
            ChurnFailures = 9_999,
            Deliveries = 99_999_999_999,
            Lost = 9_999_999,
            Duplicated = 99_999,
            OutOfOrder = 999_999_999,
        };

        var heading = SoakSample.Heading(gcHeap);
        var row = widest.ToText(gcHeap);
        Assert.Multiple(() =>
        {
            Assert.That(heading, Has.Length.LessThanOrEqualTo(SoakSample.MaxRowWidth));
            Assert.That(row, Has.Length.LessThanOrEqualTo(SoakSample.MaxRowWidth), row);
            Assert.That(row, Does.EndWith("  final"));
            Assert.That(heading.TrimEnd(), Has.Length.EqualTo(row.Length - "  final".Length), "columns line up with the heading");
        });
    }

    [Test]
    public void The_whole_soak_text_fits_in_100_columns_apart_from_quoted_messages()
    {
        var report = ReportJsonTests.FullSoak with { Partial = true, StopReason = "stalled: senders stuck in a send, nothing delivered for 3600 s" };

        var lines = report.ToText().Split(Environment.NewLine)
            .Where(line => !line.StartsWith("first churn fault:", StringComparison.Ordinal) && !line.StartsWith("errors received:", StringComparison.Ordinal));

        Assert.That(lines, Has.All.Length.LessThanOrEqualTo(SoakSample.MaxRowWidth));
    }
}
