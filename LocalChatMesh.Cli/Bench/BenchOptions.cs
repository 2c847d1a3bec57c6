using System.Net;

namespace LocalChatMesh.Cli.Bench;

/// <summary>Where the broker under test runs.</summary>
internal enum BrokerMode
{
    /// <summary>A child process <c>chatmesh broker</c>: its CPU and memory are measured apart from the bench's.</summary>
    ChildProcess,

    /// <summary>A <see cref="ChatBroker"/> inside the bench process: CPU cannot be told apart from the load generator's.</summary>
    InProcess,

    /// <summary>A broker already running at <see cref="BenchOptions.Server"/>, measured only when its process id is given.</summary>
    External,
}

/// <summary>The broker options that <c>bench</c> and <c>soak</c> share, read the same way by both.</summary>
internal static class BrokerChoice
{
    /// <summary>
    /// Turns <c>--server</c>, <c>--broker-pid</c> and <c>--in-process</c> into a mode and an
    /// endpoint, or into the problem to report.
    /// </summary>
    public static bool TryParse(string? server, int? brokerPid, bool inProcess, out BrokerMode mode, out IPEndPoint? endPoint, out string? problem)
    {
        var parsed = TryParse(server, brokerPid?.ToString(System.Globalization.CultureInfo.InvariantCulture), inProcess, out mode, out var endPoints, out _, out problem);
        endPoint = parsed && endPoints.Count > 0 ? endPoints[0] : null;
        if (parsed && endPoints.Count > 1)
        {
            problem = "--server: one broker only";
            return false;
        }

        return parsed;
    }

    /// <summary>
    /// As above, for several brokers of one cluster: <c>--server a:5001,b:5002</c> spreads the clients
    /// over them in turn, and <c>--broker-pid 11,12</c> measures the sum of those processes (the
    /// brokers, and a nats-server too if its id is given).
    /// </summary>
    public static bool TryParse(string? server, string? brokerPids, bool inProcess, out BrokerMode mode, out List<IPEndPoint> endPoints, out List<int> pids, out string? problem)
    {
        mode = server is not null ? BrokerMode.External : inProcess ? BrokerMode.InProcess : BrokerMode.ChildProcess;
        endPoints = [];
        pids = [];
        problem = null;
        foreach (var address in server?.Split(',', StringSplitOptions.TrimEntries) ?? [])
        {
            if (!ChatEndPoint.TryParse(address, out var endPoint, out var addressProblem))
            {
                problem = $"--server: {addressProblem}";
                return false;
            }

            endPoints.Add(endPoint);
        }

        foreach (var text in brokerPids?.Split(',', StringSplitOptions.TrimEntries) ?? [])
        {
            if (!int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var pid) || pid <= 0)
            {
                problem = $"--broker-pid: '{text}' is not a process id";
                return false;
            }

            pids.Add(pid);
        }

        if (brokerPids is not null && server is null)
        {
            problem = "--broker-pid needs --server";
        }
        else if (inProcess && server is not null)
        {
            problem = "--in-process and --server exclude each other";
        }

        return problem is null;
    }

    /// <summary>Failures of a run that end it with a one-line message rather than a stack trace.</summary>
    public static bool IsRunFailure(Exception exception) =>
        exception is BenchException or System.Net.Sockets.SocketException or IOException or InvalidOperationException or TimeoutException;
}

/// <summary>One bench run's settings.</summary>
internal sealed record BenchOptions
{
    public int Clients { get; init; } = 100;

    public int Senders { get; init; } = 10;

    public int Messages { get; init; } = 500;

    /// <summary>Bytes of chat text per message (at least <see cref="BenchPayload.HeaderLength"/>).</summary>
    public int Size { get; init; } = 64;

    /// <summary>Messages per second per sender, or null to send as fast as the broker takes them.</summary>
    public double? Rate { get; init; }

    public bool SilentClient { get; init; }

    public bool JoinOnly { get; init; }

    /// <summary>
    /// Rooms to spread the clients over (protocol v2, round-robin: client i joins
    /// <c>bench-(i % Rooms)</c>); 1 keeps every client in the v1 lobby, exactly as without rooms.
    /// </summary>
    public int Rooms { get; init; } = 1;

    /// <summary>Protocol v2 direct messages: clients in pairs (b0 and b1, b2 and b3...), each sender writing to its peer.</summary>
    public bool Direct { get; init; }

    /// <summary>True when the clients speak protocol v2 (rooms or direct) rather than v1.</summary>
    public bool Version2 => Rooms > 1 || Direct;

    /// <summary><c>--join-history N</c>: a room is filled with N chats, then every client joins it at once with <c>history: N</c>.</summary>
    public int? JoinHistory { get; init; }

    /// <summary><c>--fill-rooms R</c>: R rooms are each sent <see cref="Messages"/> chats, then the broker's memory is read.</summary>
    public int? FillRooms { get; init; }

    /// <summary>The history workload asked for, or null for the fan-out bench.</summary>
    public HistoryWorkload? HistoryWorkload => JoinHistory is not null ? Bench.HistoryWorkload.JoinHistory : FillRooms is not null ? Bench.HistoryWorkload.FillRooms : null;

    public BrokerMode Mode { get; init; } = BrokerMode.ChildProcess;

    public IPEndPoint? Server { get; init; }

    /// <summary>Brokers of one cluster after <see cref="Server"/>: the clients are spread over all of them in turn.</summary>
    public IReadOnlyList<IPEndPoint> MoreServers { get; init; } = [];

    public int? BrokerPid { get; init; }

    /// <summary>More processes whose CPU and memory count as the broker's (the other brokers of a cluster, a nats-server).</summary>
    public IReadOnlyList<int> MorePids { get; init; } = [];

    /// <summary>Environment variables for a child broker only (runtime settings under test), as NAME=VALUE.</summary>
    public IReadOnlyList<string> BrokerEnvironment { get; init; } = [];

    /// <summary>
    /// With <see cref="JoinOnly"/>: how long the broker is left alone before its idle RSS is read,
    /// and again with everybody joined before its joined RSS is read.
    /// </summary>
    public TimeSpan Settle { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>How many connections may be connecting and handshaking at once.</summary>
    public int ConnectConcurrency { get; init; } = 64;

    /// <summary>How long without a new delivery before the bench stops waiting and counts the rest as lost.</summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Returns the first problem with the settings, or null.</summary>
    public string? Validate() => this switch
    {
        { Clients: < 1 } => "--clients must be at least 1",
        { Senders: < 0 } => "--senders must not be negative",
        _ when Senders > Clients && !JoinOnly && HistoryWorkload is null => "--senders must not exceed --clients",
        { Messages: < 1 } => "--messages must be at least 1",
        { Size: < BenchPayload.HeaderLength } => $"--size must be at least {BenchPayload.HeaderLength} (the sender, sequence number and timestamp)",
        { Size: > 7000 } => "--size must be at most 7000 (the broker's line limit is 8 KiB)",
        { Rate: <= 0 } => "--rate must be positive",
        { Rooms: < 1 } => "--rooms must be at least 1",
        _ when Rooms > Clients => "--rooms must not exceed --clients",
        { Rooms: > 1, Direct: true } => "--rooms and --direct exclude each other",
        { Direct: true } when Clients % 2 != 0 => "--direct needs an even --clients (clients talk in pairs)",
        { Settle.TotalSeconds: < 0 or > 600 } => "--settle must be from 0 to 600 seconds",
        { ConnectConcurrency: < 1 } => "--connect-concurrency must be at least 1",
        { JoinHistory: < 1 or > 100_000 } => "--join-history must be from 1 to 100000",
        { FillRooms: < 1 or > 10_000 } => "--fill-rooms must be from 1 to 10000",
        { JoinHistory: not null, FillRooms: not null } => "--join-history and --fill-rooms exclude each other",
        { HistoryWorkload: not null } when Rooms > 1 || Direct || SilentClient || JoinOnly || Rate is not null =>
            "--join-history and --fill-rooms take only --clients, --messages, --size and the broker options",
        { Mode: BrokerMode.External, Server: null } => "a server address is needed",
        _ when BrokerEnvironment.Count > 0 && Mode != BrokerMode.ChildProcess => "--broker-env applies only to a broker the bench starts as a child process",
        _ when BrokerEnvironment.Any(setting => setting.IndexOf('=', StringComparison.Ordinal) < 1) => "--broker-env takes NAME=VALUE",
        _ => null,
    };
}
