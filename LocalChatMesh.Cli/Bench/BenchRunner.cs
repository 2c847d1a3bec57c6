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

    /// <summary>The stop reason of a run ended by its cancellation token (Ctrl+C).</summary>
    public const string Cancelled = "cancelled";

    /// <param name="options">What to run.</param>
    /// <param name="started">Called once the broker is up, with the run's progress (for a progress line).</param>
    /// <param name="cancellationToken">Ends the run early: the report then covers what happened so far, marked partial.</param>
    public static async Task<BenchReport> RunAsync(BenchOptions options, Action<BenchProgress>? started = null, CancellationToken cancellationToken = default)
    {
        if (options.Validate() is { } problem)
        {
            throw new ArgumentException(problem, nameof(options));
        }

        await using var broker = await BrokerTarget.StartAsync(options, cancellationToken);
        var progress = new BenchProgress(options);
        started?.Invoke(progress);
        var clients = new List<BenchClient>(options.Clients);
        Socket? silent = null;
        try
        {
            // A join-only run also says what the connections cost: the broker's RSS before anybody
            // connects and once everybody has joined, each read after the broker was left alone.
            long? idleRss = null;
            if (options.JoinOnly && broker.Pid is not null)
            {
                await Task.Delay(options.Settle, cancellationToken);
                idleRss = broker.Rss();
            }

            // Connect and join.
            var joinCpu = broker.CpuTime();
            var benchJoinCpu = SelfCpu();
            var joinStart = Stopwatch.GetTimestamp();
            string? stopReason = null;
            try
            {
                if (options.SilentClient)
                {
                    // It joins first, so that everyone else counts it among the others.
                    silent = await ConnectAsync(broker.EndPoint, SilentLines(options), cancellationToken);
                }

                await JoinAllAsync(broker.EndPoints, options, progress, clients, cancellationToken);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                stopReason = string.Create(CultureInfo.InvariantCulture, $"{Cancelled} while joining ({progress.Joined} of {options.Clients} clients joined)");
            }

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
                Rooms = options.Rooms > 1 ? options.Rooms : null,
                Direct = options.Direct ? true : null,
            };

            if (stopReason is not null)
            {
                report = report with { Partial = true, StopReason = stopReason, Sent = 0 };
            }
            else if (!options.JoinOnly && options.Senders > 0)
            {
                report = await SendAndReceiveAsync(options, broker, progress, clients, report, cancellationToken);
            }
            else if (idleRss is not null)
            {
                await Task.Delay(options.Settle, cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                if (!cancellationToken.IsCancellationRequested && broker.Rss() is { } joinedRss)
                {
                    report = report with
                    {
                        BrokerIdleRssBytes = idleRss,
                        BrokerJoinedRssBytes = joinedRss,
                        BrokerRssPerClientBytes = (joinedRss - idleRss.Value) / (options.Clients + (options.SilentClient ? 1 : 0)),
                    };
                }
            }

            progress.Phase = BenchPhase.Done;
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
        progress.Phase = BenchPhase.Sending;
        using var self = Process.GetCurrentProcess();
        var brokerCpu = broker.CpuTime();
        var benchCpu = self.TotalProcessorTime;
        var start = Stopwatch.GetTimestamp();
        using var stopSending = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var sending = Task.WhenAll(Enumerable.Range(0, options.Senders).Select(
            sender => Task.Run(() => clients[sender].SendAsync(sender, options.Size, options.Rate, start, stopSending.Token), CancellationToken.None)));

        // Wait for everything, or until nothing new has arrived (and nothing was sent) for the idle timeout.
        string? stopReason;
        try
        {
            stopReason = await WaitForDeliveriesAsync(progress, clients, sending, options.IdleTimeout, cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            stopReason = Cancelled;
        }

        await stopSending.CancelAsync();
        await sending.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        if (sending.IsFaulted && stopReason is null)
        {
            throw new BenchException($"a sender failed: {sending.Exception!.InnerException!.Message}");
        }

        var brokerCpuUsed = Minus(broker.CpuTime(), brokerCpu);
        self.Refresh();
        var benchCpuUsed = self.TotalProcessorTime - benchCpu;

        var end = clients.Max(client => client.LastDelivery);
        var seconds = end > start ? Stopwatch.GetElapsedTime(start, end).TotalSeconds : 0;
        var latency = new LatencyHistogram();
        long received = 0, unique = 0, duplicated = 0, outOfOrder = 0, misrouted = 0;
        foreach (var client in clients)
        {
            latency.Add(client.Latency);
            received += client.Received;
            unique += client.Unique;
            duplicated += client.Duplicated;
            outOfOrder += client.OutOfOrder;
            misrouted += client.Misrouted;
        }

        var expected = progress.ExpectedTotal;
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
            Misrouted = options.Version2 ? misrouted : null,
            RoomDeliveries = options.Rooms > 1 ? PerRoom(progress, clients) : null,
            Partial = stopReason is null ? null : true,
            StopReason = stopReason,
            Sent = stopReason is null ? null : progress.Sent,
        };
    }

    // Deliveries counted room by room: each sender's messages reach every member of its room.
    private static List<RoomDeliveries> PerRoom(BenchProgress progress, List<BenchClient> clients)
    {
        var rooms = new List<RoomDeliveries>(progress.Rooms);
        for (var room = 0; room < progress.Rooms; room++)
        {
            long received = 0, unique = 0;
            foreach (var client in clients.Where((_, index) => progress.RoomOf(index) == room))
            {
                received += client.Received;
                unique += client.Unique;
            }

            var expected = (long)progress.MembersOf(room) * progress.SendersIn(room) * progress.Messages;
            rooms.Add(new RoomDeliveries
            {
                Room = BenchProgress.RoomName(room),
                Clients = progress.MembersOf(room),
                Senders = progress.SendersIn(room),
                Expected = expected,
                Received = received,
                Lost = expected - unique,
            });
        }

        return rooms;
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
    internal static Task JoinAllAsync(
        IPEndPoint endPoint, BenchOptions options, BenchProgress progress, List<BenchClient> clients, CancellationToken cancellationToken) =>
        JoinAllAsync([endPoint], options, progress, clients, cancellationToken);

    /// <summary>As above, client <c>i</c> on broker <c>i % brokers</c> (brokers of one cluster).</summary>
    internal static async Task JoinAllAsync(
        IReadOnlyList<IPEndPoint> endPoints, BenchOptions options, BenchProgress progress, List<BenchClient> clients, CancellationToken cancellationToken)
    {
        await ConnectAllAsync(endPoints, options, progress, clients, cancellationToken);
        await progress.AllJoined.WaitAsync(JoinTimeout, cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        if (!progress.AllJoined.IsCompleted)
        {
            cancellationToken.ThrowIfCancellationRequested();
            throw new BenchException($"only {progress.Joined} of {options.Clients} clients saw everybody join within {JoinTimeout.TotalSeconds:0} s");
        }
    }

    /// <summary>
    /// Waits until every client has every message, or until nothing has happened for
    /// <paramref name="idleTimeout"/>: no delivery, no message sent, and no sender waiting for its
    /// schedule. Returns null when the senders had finished (the rest counts as lost), or why the
    /// run stalled: senders stuck in a send (a broker that stopped reading) end it the same way.
    /// </summary>
    internal static async Task<string?> WaitForDeliveriesAsync(
        BenchProgress progress, List<BenchClient> clients, Task sending, TimeSpan idleTimeout, CancellationToken cancellationToken)
    {
        var watch = new StallWatch(clients, idleTimeout);
        while (!progress.AllDelivered.IsCompleted && progress.ExpectedTotal > 0)
        {
            await Task.WhenAny(progress.AllDelivered, Task.Delay(Poll, cancellationToken));
            cancellationToken.ThrowIfCancellationRequested();
            if (sending.IsCompleted && progress.Phase == BenchPhase.Sending)
            {
                progress.Phase = BenchPhase.Draining;
            }

            if (watch.IsIdle(sending.IsCompleted))
            {
                return sending.IsCompleted ? null : watch.Reason;
            }
        }

        return null;
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
        IReadOnlyList<IPEndPoint> endPoints, BenchOptions options, BenchProgress progress, List<BenchClient> clients, CancellationToken cancellationToken)
    {
        using var connecting = new SemaphoreSlim(options.ConnectConcurrency);
        using var failed = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var slots = new BenchClient?[options.Clients];
        var tasks = new List<Task>(options.Clients);

        async Task ConnectOneAsync(int i)
        {
            try
            {
                var nickname = BenchProgress.NicknameOf(i);
                var socket = await ConnectAsync(endPoints[i % endPoints.Count], HelloLine(nickname, options), failed.Token);
                var client = new BenchClient(socket, nickname, progress, i);
                slots[i] = client;
                client.StartReceiving();
                await client.Welcomed.WaitAsync(JoinTimeout, failed.Token);
                if (options.Rooms > 1)
                {
                    await client.SendLineAsync(JoinLine(BenchProgress.RoomName(progress.RoomOf(i))), failed.Token);
                }
            }
            catch (Exception exception) when (exception is not OperationCanceledException)
            {
                // One refusal is enough to know: the others stop waiting.
                await failed.CancelAsync();
                throw;
            }
            finally
            {
                connecting.Release();
            }
        }

        try
        {
            for (var index = 0; index < options.Clients; index++)
            {
                await connecting.WaitAsync(failed.Token);
                var i = index;
                tasks.Add(Task.Run(() => ConnectOneAsync(i), CancellationToken.None));
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // A client failed: its exception follows.
        }
        finally
        {
            // Every client that got a socket is closed by the caller, whatever happened.
            await Task.WhenAll(tasks).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            clients.AddRange(slots.OfType<BenchClient>());
        }

        await Task.WhenAll(tasks);
    }

    /// <summary>The client's first line: a v1 hello, or a v2 one asking for what the workload needs.</summary>
    internal static byte[] HelloLine(string nickname, BenchOptions options)
    {
        var capabilities = options.Rooms > 1 ? ",\"capabilities\":[\"rooms\",\"meta\"]" : options.Direct ? ",\"capabilities\":[\"direct\",\"meta\"]" : "";
        return Encoding.UTF8.GetBytes($$"""{"type":"hello","nickname":"{{nickname}}"{{capabilities}}}""" + "\n");
    }

    internal static byte[] JoinLine(string room) => Encoding.UTF8.GetBytes($$"""{"type":"join","room":"{{room}}"}""" + "\n");

    // The silent client sends everything it ever sends at once and never reads: with rooms, its join follows the hello.
    private static byte[] SilentLines(BenchOptions options) =>
        options.Rooms > 1 ? [.. HelloLine("silent", options), .. JoinLine(BenchProgress.RoomName(0))] : HelloLine("silent", options);

    /// <summary>Connects and sends a v1 hello.</summary>
    internal static Task<Socket> ConnectAsync(IPEndPoint endPoint, string nickname, CancellationToken cancellationToken) =>
        ConnectAsync(endPoint, HelloLine(nickname, new BenchOptions()), cancellationToken);

    // Connects and sends the first lines; the caller reads the replies (or, for the silent client, never does).
    internal static async Task<Socket> ConnectAsync(IPEndPoint endPoint, byte[] firstLines, CancellationToken cancellationToken)
    {
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(endPoint, cancellationToken);
            await socket.SendAsync(firstLines, SocketFlags.None, cancellationToken);
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

/// <summary>
/// The idle rule of bench and soak: a run is idle when, for the idle timeout, nothing was
/// delivered, nothing was sent, and no sender was waiting for its schedule. So a paced run is
/// never idle, and a sender stuck in a send (a broker that stopped reading) is.
/// </summary>
internal sealed class StallWatch(List<BenchClient> clients, TimeSpan idleTimeout)
{
    private long _lastDelivered = -1;
    private long _lastSent = -1;
    private long _lastProgress = Stopwatch.GetTimestamp();

    /// <summary>Why a run that is idle with senders still sending stalled.</summary>
    public string Reason => string.Create(
        CultureInfo.InvariantCulture,
        $"stalled: senders stuck in a send, nothing delivered for {idleTimeout.TotalSeconds:0.###} s");

    /// <summary>Looks at the counts now; true when nothing has happened for the idle timeout.</summary>
    public bool IsIdle(bool sendingDone)
    {
        long delivered = 0, sent = 0;
        var pacing = false;
        foreach (var client in clients)
        {
            delivered += client.Received;
            sent += client.Sent;
            pacing |= client.Pacing;
        }

        if (delivered != _lastDelivered || sent != _lastSent || (pacing && !sendingDone))
        {
            _lastDelivered = delivered;
            _lastSent = sent;
            _lastProgress = Stopwatch.GetTimestamp();
            return false;
        }

        return Stopwatch.GetElapsedTime(_lastProgress) > idleTimeout;
    }
}
