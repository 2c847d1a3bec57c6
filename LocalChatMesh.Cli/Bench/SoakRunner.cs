using System.Diagnostics;
using System.Globalization;

namespace LocalChatMesh.Cli.Bench;

/// <summary>
/// Runs one soak: start or reach the broker, join the stable clients, then for the duration let
/// the stable senders chat at their rate while the churn clients come and go, sampling memory,
/// CPU and counts at each interval. At the end the churn stops, the stable traffic drains, a
/// final sample is taken, and after the settle time the broker's memory is read once more.
/// </summary>
internal static class SoakRunner
{
    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(100);

    /// <param name="options">What to run.</param>
    /// <param name="started">Called once the broker is up, with its description (before the clients join).</param>
    /// <param name="sampled">Called with each sample of the timeline as it is taken.</param>
    /// <param name="cancellationToken">Ends the run early: the report then covers what happened so far, marked partial.</param>
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
        using var stopSending = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var churning = Task.CompletedTask;
        var sending = Task.CompletedTask;
        try
        {
            var joinStart = Stopwatch.GetTimestamp();
            string? stopReason = null;
            try
            {
                await BenchRunner.JoinAllAsync(broker.EndPoint, workload, progress, clients, cancellationToken);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                stopReason = string.Create(CultureInfo.InvariantCulture, $"{BenchRunner.Cancelled} while joining ({progress.Joined} of {options.Clients} clients joined)");
            }

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
            if (stopReason is not null)
            {
                return report with { Partial = true, StopReason = stopReason, PeakRssBytes = broker.PeakRss() };
            }

            // The traffic: paced stable senders and the churn, for the duration.
            var brokerCpu = broker.CpuTime();
            var soakCpu = BenchRunner.SelfCpu();
            var start = Stopwatch.GetTimestamp();
            churning = churn.RunAsync(options.Churn, stopChurn.Token, cancellationToken);
            sending = Task.WhenAll(Enumerable.Range(0, options.Senders).Select(
                sender => Task.Run(() => clients[sender].SendAsync(sender, options.Size, options.Rate, start, stopSending.Token), CancellationToken.None)));

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
                    Lost = final ? progress.ExpectedTotal - unique : missing,
                    Duplicated = duplicated,
                    OutOfOrder = outOfOrder,
                };
                timeline.Add(sample);
                sampled?.Invoke(sample);
                return sample;
            }

            try
            {
                // Sample at each interval; a stall (senders stuck in a send) ends the traffic early.
                stopReason = await TrafficAsync(options, start, clients, sending, () => Sample(final: false), cancellationToken);

                // Stop the churn (connections under way leave their usual way), let the stable traffic drain.
                await stopChurn.CancelAsync();
                await churning;
                stopReason ??= await BenchRunner.WaitForDeliveriesAsync(progress, clients, sending, options.IdleTimeout, cancellationToken);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                stopReason = BenchRunner.Cancelled;
            }

            // Senders still under way are stuck (stalled) or interrupted (cancelled).
            await stopSending.CancelAsync();
            await sending.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            await stopChurn.CancelAsync();
            await churning.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            var final = Sample(final: true);
            var brokerCpuUsed = broker.CpuTime() - brokerCpu;
            var soakCpuUsed = BenchRunner.SelfCpu() - soakCpu;

            // Idle: only the stable clients stay connected.
            if (stopReason != BenchRunner.Cancelled)
            {
                try
                {
                    await Task.Delay(options.Settle, cancellationToken);
                }
                catch (OperationCanceledException)
                {
                    stopReason = $"{BenchRunner.Cancelled} while settling";
                }
            }

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

            var expected = progress.ExpectedTotal;
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
                SenderFailure = sending.IsFaulted ? sending.Exception!.InnerException!.Message : null,
                LatencyP50Ms = latency.Percentile(50) / 1000.0,
                LatencyP99Ms = latency.Percentile(99) / 1000.0,
                LatencyMaxMs = latency.MaxMicroseconds / 1000.0,
                BrokerCpuSeconds = brokerCpuUsed?.TotalSeconds,
                SoakCpuSeconds = soakCpuUsed.TotalSeconds,
                PeakRssBytes = peakRss,
                SettledRssBytes = settledRss,
                SettledGcHeapBytes = settledGcHeap,
                Partial = stopReason is null ? null : true,
                StopReason = stopReason,
            };
        }
        finally
        {
            await stopChurn.CancelAsync();
            await churning.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            await stopSending.CancelAsync();
            await BenchRunner.CloseAllAsync(clients);
            await sending.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    // Until the duration is over: a sample at each interval, and the idle rule watched all along.
    // Returns why the traffic stalled, or null when it ran its course.
    private static async Task<string?> TrafficAsync(
        SoakOptions options, long start, List<BenchClient> clients, Task sending, Action sample, CancellationToken cancellationToken)
    {
        var interval = options.EffectiveSampleInterval;
        var watch = new StallWatch(clients, options.IdleTimeout);
        for (var next = 1; ;)
        {
            var elapsed = Stopwatch.GetElapsedTime(start);
            if (interval * next < options.Duration && elapsed >= interval * next)
            {
                sample();
                next++;
                continue;
            }

            if (elapsed >= options.Duration)
            {
                return null;
            }

            if (options.Senders > 0 && !sending.IsCompleted && watch.IsIdle(sendingDone: false))
            {
                return watch.Reason;
            }

            var due = interval * next < options.Duration ? interval * next : options.Duration;
            var wait = due - elapsed;
            await Task.Delay(wait < Poll ? wait : Poll, cancellationToken);
        }
    }
}
