using Cocona;
using LocalChatMesh.Cli.Bench;

namespace LocalChatMesh.Cli.Commands;

/// <summary>The <c>bench</c> command: a load generator that measures a broker's fan-out.</summary>
public sealed class BenchCommand : CoconaConsoleAppBase
{
    /// <summary>Runs one bench and prints its report.</summary>
    [Command("bench", Description = "Measure fan-out: N clients receive, S of them send M messages each")]
    public async Task<int> RunAsync(
        [Option(Description = "Clients to connect; all of them receive")] int clients = 100,
        [Option(Description = "How many of the clients send")] int senders = 10,
        [Option(Description = "Messages per sender")] int messages = 500,
        [Option(Description = "Bytes of chat text per message (at least 35)")] int size = 64,
        [Option(Description = "Messages per second per sender (default: unpaced)")] double? rate = null,
        [Option(Description = "Use a running broker at HOST:PORT instead of starting one; brokers of one cluster as HOST:PORT,HOST:PORT (the clients take turns)")] string? server = null,
        [Option("broker-pid", Description = "With --server: the broker's process id, to measure its CPU and memory; several, comma-separated, are summed (a cluster's brokers and its nats-server)")] string? brokerPid = null,
        [Option("broker-env", Description = "NAME=VALUE for the child broker's environment only (repeatable)")] string[]? brokerEnv = null,
        [Option("in-process", Description = "Run the broker inside the bench process (its CPU cannot be told apart)")] bool inProcess = false,
        [Option("silent-client", Description = "Add one client that joins and never reads")] bool silentClient = false,
        [Option("join-only", Description = "Only connect and join everybody, then report (with the broker's RSS idle and joined)")] bool joinOnly = false,
        [Option(Description = "With --join-only: seconds to wait before reading the broker's idle RSS, and again before its joined RSS")] double settle = 1,
        [Option(Description = "Spread the clients over this many rooms bench-0.. (protocol v2; 1: the v1 lobby)")] int rooms = 1,
        [Option(Description = "Clients in pairs exchange direct messages (protocol v2)")] bool direct = false,
        [Option("join-history", Description = "Fill a room with N chats, then all clients join it at once with history N; reports the broker's CPU")] int? joinHistory = null,
        [Option("fill-rooms", Description = "Send --messages chats to each of R rooms, then report the broker's memory")] int? fillRooms = null,
        [Option("connect-concurrency", Description = "Clients connecting and handshaking at once")] int connectConcurrency = 64,
        [Option("idle-timeout", Description = "Seconds without a delivery before the rest counts as lost")] double idleTimeout = 10,
        [Option(Description = "Print one JSON line instead of text")] bool json = false)
    {
        if (!BrokerChoice.TryParse(server, brokerPid, inProcess, out var mode, out var endPoints, out var pids, out var brokerProblem))
        {
            return Fail(brokerProblem!);
        }

        var options = new BenchOptions
        {
            Clients = clients,
            Senders = senders,
            Messages = messages,
            Size = size,
            Rate = rate,
            SilentClient = silentClient,
            JoinOnly = joinOnly,
            Rooms = rooms,
            Direct = direct,
            JoinHistory = joinHistory,
            FillRooms = fillRooms,
            Mode = mode,
            Server = endPoints.FirstOrDefault(),
            MoreServers = [.. endPoints.Skip(1)],
            BrokerPid = pids.Count > 0 ? pids[0] : null,
            MorePids = [.. pids.Skip(1)],
            BrokerEnvironment = brokerEnv ?? [],
            ConnectConcurrency = connectConcurrency,
            Settle = double.IsFinite(settle) && Math.Abs(settle) <= 3600 ? TimeSpan.FromSeconds(settle) : TimeSpan.FromSeconds(-1),
            IdleTimeout = double.IsFinite(idleTimeout) && idleTimeout > 0 ? TimeSpan.FromSeconds(Math.Min(idleTimeout, 3600)) : TimeSpan.Zero,
        };
        if (options.Validate() is { } problem)
        {
            return Fail(problem);
        }

        if (options.HistoryWorkload is not null)
        {
            return await RunHistoryAsync(options, json);
        }

        BenchReport report;
        TerminalProgress? shown = null;
        try
        {
            report = await BenchRunner.RunAsync(options, progress => shown = TerminalProgress.StartOnTerminal(progress.Describe), Context.CancellationToken);
        }
        catch (OperationCanceledException)
        {
            return Fail("cancelled", 130);
        }
        catch (Exception exception) when (BrokerChoice.IsRunFailure(exception))
        {
            return Fail(exception.Message, 1);
        }
        finally
        {
            if (shown is not null)
            {
                await shown.DisposeAsync();
            }
        }

        // Cancelled (Ctrl+C): the partial report, then the usual exit status for an interrupt.
        Console.Out.Write(json ? report.ToJson() + Environment.NewLine : report.ToText());
        return Context.CancellationToken.IsCancellationRequested ? 130 : report.Clean ? 0 : 3;
    }

    private async Task<int> RunHistoryAsync(BenchOptions options, bool json)
    {
        HistoryBenchReport report;
        try
        {
            report = await HistoryBench.RunAsync(options, Context.CancellationToken);
        }
        catch (OperationCanceledException)
        {
            return Fail("cancelled", 130);
        }
        catch (Exception exception) when (BrokerChoice.IsRunFailure(exception))
        {
            return Fail(exception.Message, 1);
        }

        Console.Out.Write(json ? report.ToJson() + Environment.NewLine : report.ToText());
        return report.Clean ? 0 : 3;
    }

    private static int Fail(string message, int exitCode = 2)
    {
        Console.Error.WriteLine($"error: {message}");
        return exitCode;
    }
}
