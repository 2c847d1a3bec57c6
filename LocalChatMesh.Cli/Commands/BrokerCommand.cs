using System.Net.Sockets;
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
        [Option("store", Description = "A SQLite file that keeps room history across restarts (default: history in memory only)")] string? store = null,
        [Option("log-level", Description = "Trace, Debug, Information, Warning, Error or None")] LogLevel logLevel = LogLevel.Information)
    {
        if (!ChatEndPoint.TryParse(listen, out var endPoint, out var problem))
        {
            return Fail(2, $"--listen: {problem}");
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
            Store = store is null ? null : new SqliteChatStore(store),
        };

        ChatBroker broker;
        try
        {
            broker = await ChatBroker.StartAsync(options, Context.CancellationToken);
        }
        catch (ArgumentException exception)
        {
            return Fail(2, exception.Message);
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
