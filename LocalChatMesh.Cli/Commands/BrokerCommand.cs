using System.Globalization;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Cocona;
using LocalChatMesh.Storage;
using LocalChatMesh.Storage.Sqlite;
using Microsoft.Extensions.Logging;

namespace LocalChatMesh.Cli.Commands;

/// <summary>The <c>broker</c> command: runs a broker until Ctrl+C, SIGINT or SIGTERM.</summary>
public sealed class BrokerCommand : CoconaConsoleAppBase
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
        [Option("tls-cert", Description = "PEM certificate file: every connection uses TLS (with --tls-key)")] string? tlsCert = null,
        [Option("tls-key", Description = "PEM private key file of --tls-cert")] string? tlsKey = null,
        [Option("log-level", Description = "How much to log on standard error")] LogLevel logLevel = LogLevel.Information)
    {
        if (!ChatEndPoint.TryParse(listen, out var endPoint, out var problem))
        {
            return Fail(2, $"--listen: {problem}");
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

        ChatBroker broker;
        try
        {
            broker = await ChatBroker.StartAsync(options, Context.CancellationToken);
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
            // The first line on standard output, for scripts: the real port is the last word.
            Console.Out.WriteLine($"broker listening on {broker.LocalEndPoint}");
            Console.Out.Flush();
            await Task.Delay(Timeout.Infinite, Context.CancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            await broker.StopAsync();
        }

        return 0;
    }

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
