using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Cocona;
using LocalChatMesh.Monitoring;
using LocalChatMesh.Storage;
using LocalChatMesh.Storage.Sqlite;
using Microsoft.Extensions.Logging;

namespace LocalChatMesh.Cli.Commands;

/// <summary>The <c>broker</c> command: runs a broker until Ctrl+C, SIGINT or SIGTERM.</summary>
public sealed partial class BrokerCommand : CoconaConsoleAppBase
{
    /// <summary>Runs a broker in the foreground.</summary>
    [Command("broker", Description = "Run a chat broker until Ctrl+C or SIGTERM")]
    public async Task<int> RunAsync(
        [Option(Description = "Address to listen on, HOST:PORT (port 0 picks a free port)")] string listen = "127.0.0.1:5000",
        [Option("max-clients", Description = "Most connections at once")] int maxClients = 4096,
        [Option("max-line-length", Description = "Longest line accepted from a client, in bytes")] int maxLineLength = 8192,
        [Option("handshake-timeout", Description = "Seconds a connection has to send hello")] double handshakeTimeout = 10,
        [Option("queue-soft-limit", Description = "Backlog in bytes above which senders are slowed down")] long queueSoftLimit = 256 * 1024,
        [Option("queue-hard-limit", Description = "Backlog in bytes beyond which a client's messages are dropped")] long queueHardLimit = 1024 * 1024,
        [Option("lag-grace", Description = "Seconds a client may hold senders back before it lags")] double lagGrace = 2,
        [Option("disconnect-grace", Description = "Seconds a client may make no progress before it is disconnected")] double disconnectGrace = 30,
        [Option("rate-limit", Description = "Most chat messages per second per client (default: no limit)")] double? rateLimit = null,
        [Option("drain-timeout", Description = "Seconds a shutdown waits for queued messages")] double drainTimeout = 2,
        [Option("allow-remote", Description = "Allow listening on an address other than loopback")] bool allowRemote = false,
        [Option("token", Description = "Shared secret every hello must carry (default: $CHATMESH_TOKEN, else none)")] string? token = null,
        [Option("max-rooms-per-client", Description = "Most rooms one client may be in at once")] int maxRoomsPerClient = 32,
        [Option("max-rooms", Description = "Most rooms that may exist at once")] int maxRooms = 10_000,
        [Option("history", Description = "Chats each room keeps as history")] int history = 1000,
        [Option("history-days", Description = "Days a chat stays in history")] double historyDays = 7,
        [Option("history-memory", Description = "Megabytes (estimated) all rooms' history may hold in memory")] long historyMemory = 128,
        [Option("store", Description = "A SQLite file that keeps room history across restarts (default: history in memory only)")] string? store = null,
        [Option("cluster", Description = "A NATS server (nats://HOST:PORT, with JetStream) that makes this broker one of several forming one chat")] string? cluster = null,
        [Option("cluster-name", Description = "The name the brokers of one chat share on the NATS server")] string clusterName = "chatmesh",
        [Option("broker-name", Description = "This broker's name in the cluster (default: the machine name)")] string? brokerName = null,
        [Option("cluster-creds", Description = "A NATS credentials file (.creds)")] string? clusterCreds = null,
        [Option("cluster-token", Description = "A NATS token (default: $CHATMESH_CLUSTER_TOKEN, else none)")] string? clusterToken = null,
        [Option("cluster-tls-ca", Description = "PEM certificate authorities to trust for the NATS server's TLS (requires TLS)")] string? clusterTlsCa = null,
        [Option("cluster-tls-cert", Description = "PEM client certificate for NATS (with --cluster-tls-key)")] string? clusterTlsCert = null,
        [Option("cluster-tls-key", Description = "PEM private key of --cluster-tls-cert")] string? clusterTlsKey = null,
        [Option("monitor", Description = "Serve /healthz and /metrics (Prometheus) over HTTP on HOST:PORT (default: off)")] string? monitor = null,
        [Option("tls-cert", Description = "PEM certificate file: every connection uses TLS (with --tls-key)")] string? tlsCert = null,
        [Option("tls-key", Description = "PEM private key file of --tls-cert")] string? tlsKey = null,
        [Option("log-level", Description = "How much to log on standard error")] LogLevel logLevel = LogLevel.Information)
    {
        // Before any socket exists: the runtime reads these once, when the first one is registered.
        SocketCompletions.PreferInline();
        if (!ChatEndPoint.TryParse(listen, out var endPoint, out var problem))
        {
            return Fail(2, $"--listen: {problem}");
        }

        IPEndPoint? monitorEndPoint = null;
        if (monitor is not null)
        {
            if (!ChatEndPoint.TryParse(monitor, out monitorEndPoint, out var monitorProblem))
            {
                return Fail(2, $"--monitor: {monitorProblem}");
            }

            if (!allowRemote && !IPAddress.IsLoopback(monitorEndPoint.Address))
            {
                return Fail(2, $"--monitor: {monitorEndPoint.Address} is not a loopback address: the metrics would be reachable from other machines. Pass --allow-remote to listen there.");
            }
        }

        if (historyMemory is < 1 or > 1024 * 1024)
        {
            return Fail(2, $"--history-memory must be from 1 to 1048576 megabytes; it is {historyMemory}.");
        }

        BrokerTlsOptions? tls = null;
        if (tlsCert is not null || tlsKey is not null)
        {
            if (LoadTls(tlsCert, tlsKey, out tls) is { } tlsProblem)
            {
                return Fail(2, tlsProblem);
            }
        }

        using var loggerFactory = Logging.Create(logLevel);
        var options = BrokerOptions.Default with
        {
            EndPoint = endPoint,
            MaxClients = maxClients,
            MaxLineLength = maxLineLength,
            HandshakeTimeout = Seconds(handshakeTimeout),
            OutboundSoftLimitBytes = queueSoftLimit,
            OutboundHardLimitBytes = queueHardLimit,
            LagGrace = Seconds(lagGrace),
            DisconnectGrace = Seconds(disconnectGrace),
            MaxMessagesPerSecond = rateLimit,
            DrainTimeout = Seconds(drainTimeout),
            AllowNonLoopback = allowRemote,
            Token = token ?? NullIfEmpty(Environment.GetEnvironmentVariable(TokenVariable)),
            LoggerFactory = loggerFactory,
            MaxRoomsPerClient = maxRoomsPerClient,
            MaxRooms = maxRooms,
            HistoryMessagesPerRoom = history,
            HistoryMaxAge = double.IsFinite(historyDays) && historyDays > 0 && historyDays < 100_000 ? TimeSpan.FromDays(historyDays) : TimeSpan.Zero,
            HistoryBytes = historyMemory * 1024 * 1024,
            HistoryBytesPerRoom = Math.Min(BrokerOptions.Default.HistoryBytesPerRoom, historyMemory * 1024 * 1024),
            Store = store is null ? null : OpenStore(store),
            Tls = tls,
        };

        await using var clusterLink = new ClusterLink();
        if (cluster is not null)
        {
            if (options.Store is { } openedStore)
            {
                await openedStore.DisposeAsync();
                return Fail(2, "--store and --cluster cannot both be given: in a cluster, history lives in the cluster.");
            }

            var clusterProblem = await clusterLink.ConnectAsync(new ClusterSettings(
                cluster, clusterName, brokerName, clusterCreds, clusterToken ?? NullIfEmpty(Environment.GetEnvironmentVariable(ClusterTokenVariable)),
                clusterTlsCa, clusterTlsCert, clusterTlsKey, options.HistoryMessagesPerRoom, options.HistoryMaxAge, loggerFactory), Context.CancellationToken);
            if (clusterProblem is { } failed)
            {
                return Fail(failed.ExitCode, failed.Message);
            }

            options = options with { Cluster = clusterLink.Cluster };
        }

        // The monitor is bound before the broker starts, so that either failing leaves one error line
        // (and a store is not opened for nothing); it reports the broker once that is up.
        ChatMonitor? monitoring = null;
        if (monitorEndPoint is not null)
        {
            try
            {
                options.Validate();
                monitoring = ChatMonitor.Start(MonitorOptions.Default with { EndPoint = monitorEndPoint, AllowNonLoopback = allowRemote, LoggerFactory = loggerFactory });
                monitoring.ExpectBroker();
            }
            catch (ArgumentException exception)
            {
                return Fail(2, FlagErrors.Translate(exception));
            }
            catch (SocketException exception)
            {
                return Fail(1, $"--monitor: cannot listen on {monitorEndPoint}: {exception.Message}");
            }
        }

        await using (monitoring)
        {
            ChatBroker broker;
            try
            {
                broker = await ChatBroker.StartAsync(options, Context.CancellationToken);
            }
            catch (LocalChatMesh.Cluster.ClusterUnavailableException exception)
            {
                return Fail(1, $"--cluster: {exception.Message}");
            }
            catch (ArgumentException exception)
            {
                return Fail(2, FlagErrors.Translate(exception));
            }
            catch (SocketException exception)
            {
                return Fail(1, $"cannot listen on {endPoint}: {exception.Message}");
            }
            catch (ChatStoreException exception)
            {
                return Fail(1, $"--store: {exception.Message}");
            }

            await using (broker)
            {
                // Health checks beyond "broker" go here, one line each: monitoring?.AddHealthCheck(NAME, CHECK).
                monitoring?.AddBroker(broker);
                if (clusterLink.Cluster is { } clusterEngine)
                {
                    monitoring?.AddHealthCheck("cluster", () => clusterEngine.IsConnected
                        ? HealthCheckResult.Healthy($"connected as {clusterEngine.BrokerId}")
                        : HealthCheckResult.Unhealthy("cannot reach the NATS server; messages are not being delivered"));
                }

                // The first line on standard output, for scripts: the real port is the last word.
                // With --monitor, the second line says where the monitor is, the same way.
                Console.Out.WriteLine($"broker listening on {broker.LocalEndPoint}");
                if (monitoring is not null)
                {
                    Console.Out.WriteLine($"monitor listening on {monitoring.LocalEndPoint}");
                    var monitorLogger = loggerFactory.CreateLogger("LocalChatMesh.Monitor");
                    MonitorListening(monitorLogger, monitoring.LocalEndPoint);
                    if (!IPAddress.IsLoopback(monitoring.LocalEndPoint.Address))
                    {
                        MonitorBeyondLoopback(monitorLogger, monitoring.LocalEndPoint);
                    }
                }

                Console.Out.Flush();
                await Task.Delay(Timeout.Infinite, Context.CancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);

                // While the broker drains, /healthz answers 503 "shutting down"; the monitor closes after it.
                await broker.StopAsync();
            }
        }

        return 0;
    }

    [LoggerMessage(1, LogLevel.Information, "monitor listening on http://{EndPoint} (/healthz, /metrics)")]
    private static partial void MonitorListening(ILogger logger, EndPoint endPoint);

    [LoggerMessage(2, LogLevel.Warning, "monitor listening on {EndPoint}, which is not loopback: other machines can read the metrics")]
    private static partial void MonitorBeyondLoopback(ILogger logger, EndPoint endPoint);

    // Its own method, so the SQLite assemblies load only when --store is given (a broker without
    // a store stays as light at rest as before).
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Performance", "CA1859", Justification = "The Core interface keeps the SQLite types out of the caller's signature.")]
    private static IChatStore OpenStore(string path) => new SqliteChatStore(path);

    /// <summary>Loads --tls-cert and --tls-key, or says in one line (naming the flag) what is wrong.</summary>
    internal static string? LoadTls(string? certificatePath, string? keyPath, out BrokerTlsOptions? tls)
    {
        tls = null;
        if (certificatePath is null || keyPath is null)
        {
            return $"{(certificatePath is null ? "--tls-key" : "--tls-cert")} needs {(certificatePath is null ? "--tls-cert" : "--tls-key")}: give both a PEM certificate and its key, or neither for plain TCP";
        }

        try
        {
            tls = BrokerTlsOptions.LoadPemFiles(certificatePath, keyPath);
            return null;
        }
        catch (ChatMeshException exception)
        {
            var flag = exception.Message.StartsWith("certificate file", StringComparison.Ordinal) ? "--tls-cert" : "--tls-key";
            return $"{flag}: {exception.Message}";
        }
    }

    /// <summary>The environment variable that holds the shared secret when --token is not given.</summary>
    public const string TokenVariable = "CHATMESH_TOKEN";

    /// <summary>The environment variable that holds the NATS token when --cluster-token is not given.</summary>
    public const string ClusterTokenVariable = "CHATMESH_CLUSTER_TOKEN";

    private static string? NullIfEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;

    private static TimeSpan Seconds(double seconds) =>
        double.IsFinite(seconds) && Math.Abs(seconds) < TimeSpan.MaxValue.TotalSeconds ? TimeSpan.FromSeconds(seconds) : TimeSpan.Zero;

    private static int Fail(int exitCode, string message)
    {
        Console.Error.WriteLine($"error: {message}");
        return exitCode;
    }
}

/// <summary>
/// Says which command-line flag is wrong when <see cref="BrokerOptions.Validate"/> refuses a
/// setting: the library names its properties (<c>MaxClients must be at least 1</c>), the user
/// typed flags (<c>--max-clients must be at least 1</c>).
/// </summary>
internal static partial class FlagErrors
{
    // Longest names first, so MaxLineLength is not half-replaced by a shorter name.
    private static readonly (string Property, string Flag)[] Flags =
    [
        (nameof(BrokerOptions.SlowConsumerCheckInterval), "--lag-grace"),
        (nameof(BrokerOptions.HistoryMessagesPerRoom), "--history"),
        (nameof(BrokerOptions.HistoryBytesPerRoom), "--history-memory"),
        (nameof(BrokerOptions.MaxRoomsPerClient), "--max-rooms-per-client"),
        (nameof(BrokerOptions.HistoryMaxAge), "--history-days"),
        (nameof(BrokerOptions.HistoryBytes), "--history-memory"),
        (nameof(BrokerOptions.MaxRooms), "--max-rooms"),
        (nameof(BrokerOptions.OutboundSoftLimitBytes), "--queue-soft-limit"),
        (nameof(BrokerOptions.OutboundHardLimitBytes), "--queue-hard-limit"),
        (nameof(BrokerOptions.MaxMessagesPerSecond), "--rate-limit"),
        (nameof(BrokerOptions.AllowNonLoopback), "--allow-remote"),
        (nameof(BrokerOptions.HandshakeTimeout), "--handshake-timeout"),
        (nameof(BrokerOptions.DisconnectGrace), "--disconnect-grace"),
        (nameof(BrokerOptions.MaxLineLength), "--max-line-length"),
        (nameof(BrokerOptions.DrainTimeout), "--drain-timeout"),
        (nameof(BrokerOptions.MaxClients), "--max-clients"),
        (nameof(BrokerOptions.LagGrace), "--lag-grace"),
        (nameof(BrokerOptions.EndPoint), "--listen"),
        (nameof(BrokerOptions.Token), "--token"),
        (nameof(BrokerOptions.Cluster), "--cluster"),
        (nameof(BrokerOptions.Store), "--store"),
    ];

    /// <summary>The exception's first line, with property names turned into flags and durations into seconds.</summary>
    public static string Translate(ArgumentException exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        var text = exception.Message.Split('\n')[0];
        if (exception.ParamName is { } name)
        {
            text = text.Replace($" (Parameter '{name}')", "", StringComparison.Ordinal);
        }

        foreach (var (property, flag) in Flags)
        {
            text = Regex.Replace(text, $@"\b{property}\b", flag);
        }

        text = Duration().Replace(text, match =>
            TimeSpan.TryParse(match.Value, CultureInfo.InvariantCulture, out var duration)
                ? $"{duration.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s"
                : match.Value);
        return text.Replace("Set --allow-remote to listen there", "Pass --allow-remote to listen there", StringComparison.Ordinal);
    }

    [GeneratedRegex(@"-?\d+\.?\d{2}:\d{2}:\d{2}(\.\d+)?|-?\d{2}:\d{2}:\d{2}(\.\d+)?")]
    private static partial Regex Duration();
}
