using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace LocalChatMesh.Cli.Bench;

/// <summary>A bench run could not be carried out (the broker did not start, clients could not join).</summary>
internal sealed class BenchException(string message) : Exception(message);

/// <summary>
/// Runs one bench: start or reach the broker, connect and join every client (a bounded number
/// connecting at once), then let the senders send and wait until every client has every
/// message, or until nothing has arrived for the idle timeout.
/// </summary>
internal static class BenchRunner
{
    private static readonly TimeSpan JoinTimeout = TimeSpan.FromSeconds(120);
    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(20);

    public static async Task<BenchReport> RunAsync(BenchOptions options, CancellationToken cancellationToken = default)
    {
        if (options.Validate() is { } problem)
        {
            throw new ArgumentException(problem, nameof(options));
        }

        await using var broker = await BrokerTarget.StartAsync(options, cancellationToken);
        var progress = new BenchProgress(options);
        var clients = new List<BenchClient>(options.Clients);
        Socket? silent = null;
        try
        {
            // Connect and join.
            var joinCpu = broker.CpuTime();
            var benchJoinCpu = SelfCpu();
            var joinStart = Stopwatch.GetTimestamp();
            if (options.SilentClient)
            {
                // It joins first, so that everyone else counts it among the others.
                silent = await ConnectAsync(broker.EndPoint, "silent", cancellationToken);
            }

            await JoinAllAsync(broker.EndPoint, options, progress, clients, cancellationToken);
            var joinSeconds = Stopwatch.GetElapsedTime(joinStart).TotalSeconds;
            var brokerJoinCpu = Minus(broker.CpuTime(), joinCpu);
            benchJoinCpu = SelfCpu() - benchJoinCpu;

            var report = new BenchReport
            {
                Broker = broker.Description,
                Clients = options.Clients,
                Senders = options.JoinOnly ? 0 : options.Senders,
                Messages = options.Messages,
                Size = options.Size,
                Rate = options.Rate,
                SilentClient = options.SilentClient,
                JoinOnly = options.JoinOnly,
                JoinSeconds = joinSeconds,
                BrokerJoinCpuSeconds = brokerJoinCpu?.TotalSeconds,
                BenchJoinCpuSeconds = benchJoinCpu.TotalSeconds,
            };

            if (!options.JoinOnly && options.Senders > 0)
            {
                report = await SendAndReceiveAsync(options, broker, progress, clients, report, cancellationToken);
            }

            return Finish(report, broker, clients);
        }
        finally
        {
            silent?.Dispose();
            await CloseAllAsync(clients);
        }
    }

    private static async Task<BenchReport> SendAndReceiveAsync(
        BenchOptions options, BrokerTarget broker, BenchProgress progress, List<BenchClient> clients, BenchReport report, CancellationToken cancellationToken)
    {
        using var self = Process.GetCurrentProcess();
        var brokerCpu = broker.CpuTime();
        var benchCpu = self.TotalProcessorTime;
        var start = Stopwatch.GetTimestamp();
        using var stopSending = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var sending = Task.WhenAll(Enumerable.Range(0, options.Senders).Select(
            sender => Task.Run(() => clients[sender].SendAsync(sender, options.Size, options.Rate, start, stopSending.Token), CancellationToken.None)));

        // Wait for everything, or until nothing new has arrived for the idle timeout.
        await WaitForDeliveriesAsync(progress, clients, sending, options.IdleTimeout, cancellationToken);
        await stopSending.CancelAsync();
        await sending.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        if (sending.IsFaulted)
        {
            throw new BenchException($"a sender failed: {sending.Exception!.InnerException!.Message}");
        }

        var brokerCpuUsed = Minus(broker.CpuTime(), brokerCpu);
        self.Refresh();
        var benchCpuUsed = self.TotalProcessorTime - benchCpu;

        var end = clients.Max(client => client.LastDelivery);
        var seconds = end > start ? Stopwatch.GetElapsedTime(start, end).TotalSeconds : 0;
        var latency = new LatencyHistogram();
        long received = 0, unique = 0, duplicated = 0, outOfOrder = 0;
        foreach (var client in clients)
        {
            latency.Add(client.Latency);
            received += client.Received;
            unique += client.Unique;
            duplicated += client.Duplicated;
            outOfOrder += client.OutOfOrder;
        }

        var expected = progress.ExpectedPerClient * options.Clients;
        double? PerMillion(TimeSpan? cpu) => cpu is { } used && received > 0 ? used.TotalSeconds * 1_000_000 / received : null;
        return report with
        {
            Expected = expected,
            Received = received,
            Lost = expected - unique,
            Duplicated = duplicated,
            OutOfOrder = outOfOrder,
            Seconds = seconds,
            DeliveriesPerSecond = seconds > 0 ? received / seconds : 0,
            LatencyP50Ms = Milliseconds(latency.Percentile(50)),
            LatencyP90Ms = Milliseconds(latency.Percentile(90)),
            LatencyP99Ms = Milliseconds(latency.Percentile(99)),
            LatencyMaxMs = Milliseconds(latency.MaxMicroseconds),
            BrokerCpuSeconds = brokerCpuUsed?.TotalSeconds,
            BrokerCpuPerMillionDeliveries = PerMillion(brokerCpuUsed),
            BenchCpuSeconds = benchCpuUsed.TotalSeconds,
            BenchCpuPerMillionDeliveries = PerMillion(benchCpuUsed),
        };
    }

    private static BenchReport Finish(BenchReport report, BrokerTarget broker, List<BenchClient> clients)
    {
        var errors = clients.Sum(client => client.Errors);
        return report with
        {
            BrokerPeakRssBytes = broker.PeakRss(),
            ErrorsReceived = errors,
            FirstError = clients.Select(client => client.FirstError).FirstOrDefault(error => error is not null),
        };
    }

    /// <summary>
    /// Connects every client of <paramref name="options"/> (a bounded number at once) into
    /// <paramref name="clients"/> and waits until each has its welcome and has seen all the others.
    /// </summary>
    internal static async Task JoinAllAsync(
        IPEndPoint endPoint, BenchOptions options, BenchProgress progress, List<BenchClient> clients, CancellationToken cancellationToken)
    {
        await ConnectAllAsync(endPoint, options, progress, clients, cancellationToken);
        await progress.AllJoined.WaitAsync(JoinTimeout, cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        if (!progress.AllJoined.IsCompleted)
        {
            cancellationToken.ThrowIfCancellationRequested();
            throw new BenchException($"only {progress.Joined} of {options.Clients} clients saw everybody join within {JoinTimeout.TotalSeconds:0} s");
        }
    }

    /// <summary>
    /// Waits until every client has every message, or until nothing new has arrived for
    /// <paramref name="idleTimeout"/> while <paramref name="sending"/> is over.
    /// </summary>
    internal static async Task WaitForDeliveriesAsync(
        BenchProgress progress, List<BenchClient> clients, Task sending, TimeSpan idleTimeout, CancellationToken cancellationToken)
    {
        long lastTotal = -1;
        var lastProgress = Stopwatch.GetTimestamp();
        while (!progress.AllDelivered.IsCompleted && progress.ExpectedPerClient > 0)
        {
            await Task.WhenAny(progress.AllDelivered, Task.Delay(Poll, cancellationToken));
            cancellationToken.ThrowIfCancellationRequested();
            var total = clients.Sum(client => client.Received);
            if (total != lastTotal || !sending.IsCompleted)
            {
                lastTotal = total;
                lastProgress = Stopwatch.GetTimestamp();
            }
            else if (Stopwatch.GetElapsedTime(lastProgress) > idleTimeout)
            {
                break;
            }
        }
    }

    /// <summary>Closes every client and waits for their receive loops to end.</summary>
    internal static async Task CloseAllAsync(List<BenchClient> clients)
    {
        foreach (var client in clients)
        {
            client.Dispose();
        }

        await Task.WhenAll(clients.Select(client => client.Receiving));
    }

    private static async Task ConnectAllAsync(
        IPEndPoint endPoint, BenchOptions options, BenchProgress progress, List<BenchClient> clients, CancellationToken cancellationToken)
    {
        using var connecting = new SemaphoreSlim(options.ConnectConcurrency);
        var slots = new BenchClient?[options.Clients];
        var tasks = new List<Task>(options.Clients);
        for (var index = 0; index < options.Clients; index++)
        {
            await connecting.WaitAsync(cancellationToken);
            var i = index;
            tasks.Add(Task.Run(
                async () =>
                {
                    try
                    {
                        var nickname = string.Create(CultureInfo.InvariantCulture, $"b{i}");
                        var socket = await ConnectAsync(endPoint, nickname, cancellationToken);
                        var client = new BenchClient(socket, nickname, progress);
                        slots[i] = client;
                        client.StartReceiving();
                        await client.Welcomed.WaitAsync(JoinTimeout, cancellationToken);
                    }
                    finally
                    {
                        connecting.Release();
                    }
                },
                CancellationToken.None));
        }

        try
        {
            await Task.WhenAll(tasks);
        }
        finally
        {
            clients.AddRange(slots.OfType<BenchClient>());
        }
    }

    // Connects and sends hello; the caller reads the replies (or, for the silent client, never does).
    internal static async Task<Socket> ConnectAsync(IPEndPoint endPoint, string nickname, CancellationToken cancellationToken)
    {
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(endPoint, cancellationToken);
            var hello = Encoding.UTF8.GetBytes($$"""{"type":"hello","nickname":"{{nickname}}"}""" + "\n");
            await socket.SendAsync(hello, SocketFlags.None, cancellationToken);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    internal static TimeSpan SelfCpu()
    {
        using var self = Process.GetCurrentProcess();
        return self.TotalProcessorTime;
    }

    private static TimeSpan? Minus(TimeSpan? after, TimeSpan? before) => after - before;

    private static double Milliseconds(long microseconds) => microseconds / 1000.0;
}
