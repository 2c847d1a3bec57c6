using System.Diagnostics;

namespace LocalChatMesh.Cli.Bench;

/// <summary>
/// Runs one soak: start or reach the broker, join the stable clients, then for the duration let
/// the stable senders chat at their rate while the churn clients come and go, sampling memory,
/// CPU and counts at each interval. At the end the churn stops, the stable traffic drains, a
/// final sample is taken, and after the settle time the broker's memory is read once more.
/// </summary>
internal static class SoakRunner
{
    /// <summary>After the traffic, how long without a new delivery before the rest counts as lost.</summary>
    private static readonly TimeSpan DrainIdleTimeout = TimeSpan.FromSeconds(10);

    /// <param name="options">What to run.</param>
    /// <param name="started">Called once the broker is up, with its description (before the clients join).</param>
    /// <param name="sampled">Called with each sample of the timeline as it is taken.</param>
    /// <param name="cancellationToken">Ends the run without a report.</param>
    public static async Task<SoakReport> RunAsync(
        SoakOptions options, Action<string>? started = null, Action<SoakSample>? sampled = null, CancellationToken cancellationToken = default)
    {
        if (options.Validate() is { } problem)
        {
            throw new ArgumentException(problem, nameof(options));
        }

        var workload = options.StableWorkload;
        await using var broker = await BrokerTarget.StartAsync(workload, extraConnections: 2 * options.Churn, cancellationToken);
        started?.Invoke(broker.Description);
        var progress = new BenchProgress(workload);
        var clients = new List<BenchClient>(options.Clients);
        var churn = new SoakChurn(broker.EndPoint);
        using var stopChurn = new CancellationTokenSource();
        var churning = Task.CompletedTask;
        var sending = Task.CompletedTask;
        try
        {
            var joinStart = Stopwatch.GetTimestamp();
            await BenchRunner.JoinAllAsync(broker.EndPoint, workload, progress, clients, cancellationToken);
            var report = new SoakReport
            {
                Broker = broker.Description,
                InProcess = broker.InProcess,
                Clients = options.Clients,
                Senders = options.Senders,
                Rate = options.Rate,
                Churn = options.Churn,
                DurationSeconds = options.Duration.TotalSeconds,
                SampleIntervalSeconds = options.EffectiveSampleInterval.TotalSeconds,
                SettleSeconds = options.Settle.TotalSeconds,
                JoinSeconds = Stopwatch.GetElapsedTime(joinStart).TotalSeconds,
                JoinedRssBytes = broker.Rss(),
                JoinedGcHeapBytes = broker.GcHeap(),
            };

            // The traffic: paced stable senders and the churn, for the duration.
            var brokerCpu = broker.CpuTime();
            var soakCpu = BenchRunner.SelfCpu();
            var start = Stopwatch.GetTimestamp();
            churning = churn.RunAsync(options.Churn, stopChurn.Token, cancellationToken);
            sending = Task.WhenAll(Enumerable.Range(0, options.Senders).Select(
                sender => Task.Run(() => clients[sender].SendAsync(sender, options.Size, options.Rate, start, cancellationToken), CancellationToken.None)));

            var timeline = new List<SoakSample>();
            SoakSample Sample(bool final)
            {
                long deliveries = 0, missing = 0, unique = 0, duplicated = 0, outOfOrder = 0;
                foreach (var client in clients)
                {
                    deliveries += client.Received;
                    missing += client.Missing;
                    unique += client.Unique;
                    duplicated += client.Duplicated;
                    outOfOrder += client.OutOfOrder;
                }

                var sample = new SoakSample
                {
                    ElapsedSeconds = Stopwatch.GetElapsedTime(start).TotalSeconds,
                    Final = final,
                    RssBytes = broker.Rss(),
                    GcHeapBytes = broker.GcHeap(),
                    BrokerCpuSeconds = (broker.CpuTime() - brokerCpu)?.TotalSeconds,
                    Churned = churn.Churned,
                    ChurnFailures = churn.Failures,
                    Deliveries = deliveries,
                    Lost = final ? (progress.ExpectedPerClient * options.Clients) - unique : missing,
                    Duplicated = duplicated,
                    OutOfOrder = outOfOrder,
                };
                timeline.Add(sample);
                sampled?.Invoke(sample);
                return sample;
            }

            var interval = options.EffectiveSampleInterval;
            for (var next = 1; interval * next < options.Duration; next++)
            {
                await DelayUntilAsync(start, interval * next, cancellationToken);
                Sample(final: false);
            }

            await DelayUntilAsync(start, options.Duration, cancellationToken);

            // Stop the churn (connections under way leave their usual way), let the stable traffic drain.
            await stopChurn.CancelAsync();
            await churning;
            await BenchRunner.WaitForDeliveriesAsync(progress, clients, sending, DrainIdleTimeout, cancellationToken);
            var final = Sample(final: true);
            var brokerCpuUsed = broker.CpuTime() - brokerCpu;
            var soakCpuUsed = BenchRunner.SelfCpu() - soakCpu;

            // Idle: only the stable clients stay connected.
            await Task.Delay(options.Settle, cancellationToken);
            var settledRss = broker.Rss();
            var settledGcHeap = broker.GcHeap();
            var peakRss = broker.PeakRss() ?? (broker.InProcess ? ProcStat.PeakRss(Environment.ProcessId) : null);

            var latency = new LatencyHistogram();
            long received = 0, unique = 0, churnSeen = 0, unexpected = 0, errors = 0;
            foreach (var client in clients)
            {
                latency.Add(client.Latency);
                received += client.Received;
                unique += client.Unique;
                churnSeen += client.Churn;
                unexpected += client.Foreign;
                errors += client.Errors;
            }

            var expected = progress.ExpectedPerClient * options.Clients;
            return report with
            {
                Timeline = timeline,
                TrafficSeconds = final.ElapsedSeconds,
                ChurnGraceful = churn.Completed(ChurnKind.Graceful),
                ChurnReset = churn.Completed(ChurnKind.Reset),
                ChurnHalfLine = churn.Completed(ChurnKind.HalfLine),
                ChurnNoHello = churn.Completed(ChurnKind.NoHello),
                ChurnFailures = churn.Failures,
                FirstChurnFailure = churn.FirstFailure,
                ChurnChatsSent = churn.Chats,
                ChurnChatsSeen = churnSeen,
                Expected = expected,
                Received = received,
                Lost = expected - unique,
                Duplicated = final.Duplicated,
                OutOfOrder = final.OutOfOrder,
                Unexpected = unexpected,
                ErrorsReceived = errors,
                FirstError = clients.Select(client => client.FirstError).FirstOrDefault(error => error is not null),
                StableDisconnected = clients.Count(client => client.Receiving.IsCompleted),
                SenderFailure = sending.IsFaulted ? sending.Exception!.InnerException!.Message : sending.IsCompleted ? null : "still sending after the drain",
                LatencyP50Ms = latency.Percentile(50) / 1000.0,
                LatencyP99Ms = latency.Percentile(99) / 1000.0,
                LatencyMaxMs = latency.MaxMicroseconds / 1000.0,
                BrokerCpuSeconds = brokerCpuUsed?.TotalSeconds,
                SoakCpuSeconds = soakCpuUsed.TotalSeconds,
                PeakRssBytes = peakRss,
                SettledRssBytes = settledRss,
                SettledGcHeapBytes = settledGcHeap,
            };
        }
        finally
        {
            await stopChurn.CancelAsync();
            await churning.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            await BenchRunner.CloseAllAsync(clients);
            await sending.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    private static async Task DelayUntilAsync(long start, TimeSpan due, CancellationToken cancellationToken)
    {
        var wait = due - Stopwatch.GetElapsedTime(start);
        if (wait > TimeSpan.Zero)
        {
            await Task.Delay(wait, cancellationToken);
        }
    }
}
