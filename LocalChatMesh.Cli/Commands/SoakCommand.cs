using Cocona;
using LocalChatMesh.Cli.Bench;

namespace LocalChatMesh.Cli.Commands;

/// <summary>The <c>soak</c> command: churn plus chat for a while, reporting losses and memory over time.</summary>
public sealed class SoakCommand : CoconaConsoleAppBase
{
    /// <summary>Runs one soak, printing the timeline as it goes and a summary at the end.</summary>
    [Command("soak", Description = "Run churn plus chat for a while; report losses and the broker's memory over time")]
    public async Task<int> RunAsync(
        [Option(Description = "How long the traffic lasts, in minutes (fractions allowed)")] double minutes = 5,
        [Option(Description = "Stable clients, connected the whole time; all of them receive")] int clients = 50,
        [Option(Description = "How many of the stable clients chat")] int senders = 5,
        [Option(Description = "Messages per second per sender")] double rate = 50,
        [Option(Description = "Short-lived clients connecting at once (each leaves gracefully, by reset, mid-line or without hello)")] int churn = 20,
        [Option("sample-interval", Description = "Seconds between two samples of the timeline (default: 10, less for runs under 100 s)")] double? sampleInterval = null,
        [Option(Description = "Seconds to wait after the traffic before the last memory reading")] double settle = 5,
        [Option("idle-timeout", Description = "Seconds without a delivery or a send before the run stops waiting (a stall ends it early)")] double idleTimeout = 10,
        [Option(Description = "Use a running broker at HOST:PORT instead of starting one")] string? server = null,
        [Option("broker-pid", Description = "With --server: the broker's process id, to measure its CPU and memory")] int? brokerPid = null,
        [Option("broker-env", Description = "NAME=VALUE for the child broker's environment only (repeatable)")] string[]? brokerEnv = null,
        [Option("in-process", Description = "Run the broker inside the soak process (memory and CPU include the load generator)")] bool inProcess = false,
        [Option(Description = "Print one JSON object at the end instead of text")] bool json = false)
    {
        if (!BrokerChoice.TryParse(server, brokerPid, inProcess, out var mode, out var endPoint, out var brokerProblem))
        {
            return Fail(brokerProblem!);
        }

        // Out-of-range numbers become values that Validate refuses with the option's name.
        var options = new SoakOptions
        {
            Duration = minutes is > 0 and <= 7 * 24 * 60 ? TimeSpan.FromMinutes(minutes) : TimeSpan.Zero,
            Clients = clients,
            Senders = senders,
            Rate = rate,
            Churn = churn,
            SampleInterval = sampleInterval is { } interval ? interval is > 0 and <= 86_400 ? TimeSpan.FromSeconds(interval) : TimeSpan.Zero : null,
            Settle = settle is >= 0 and <= 3600 ? TimeSpan.FromSeconds(settle) : TimeSpan.MinValue,
            IdleTimeout = idleTimeout is > 0 and <= 3600 ? TimeSpan.FromSeconds(idleTimeout) : TimeSpan.Zero,
            Mode = mode,
            Server = endPoint,
            BrokerPid = brokerPid,
            BrokerEnvironment = brokerEnv ?? [],
        };
        if (options.Validate() is { } problem)
        {
            return Fail(problem);
        }

        SoakReport report;
        try
        {
            var gcHeap = options.Mode == BrokerMode.InProcess;
            report = await SoakRunner.RunAsync(
                options,
                started: broker =>
                {
                    if (!json)
                    {
                        Console.Out.Write(SoakReport.Preamble(
                            broker, options.Clients, options.Senders, options.Rate, options.Churn, options.Duration.TotalSeconds, options.EffectiveSampleInterval.TotalSeconds, gcHeap));
                    }
                },
                sampled: sample =>
                {
                    if (!json)
                    {
                        Console.Out.WriteLine(sample.ToText(gcHeap));
                    }
                },
                Context.CancellationToken);
        }
        catch (OperationCanceledException)
        {
            return Fail("cancelled", 130);
        }
        catch (Exception exception) when (BrokerChoice.IsRunFailure(exception))
        {
            return Fail(exception.Message, 1);
        }

        // Cancelled (Ctrl+C): the partial summary, then the usual exit status for an interrupt.
        Console.Out.Write(json ? report.ToJson() + Environment.NewLine : report.ToSummaryText());
        return Context.CancellationToken.IsCancellationRequested ? 130 : report.Clean ? 0 : 3;
    }

    private static int Fail(string message, int exitCode = 2)
    {
        Console.Error.WriteLine($"error: {message}");
        return exitCode;
    }
}
