using System.Diagnostics;
using System.Net;

namespace LocalChatMesh.Cli.Bench;

/// <summary>
/// The broker under test: a child <c>chatmesh broker</c> process (so its CPU time and peak memory
/// can be read from /proc apart from the load generator's), an in-process broker, or an external
/// one given by address and, optionally, process id.
/// </summary>
internal sealed class BrokerTarget : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);

    private readonly ChatBroker? _inProcess;
    private readonly Process? _child;

    private BrokerTarget(IPEndPoint endPoint, int? pid, string description, ChatBroker? inProcess = null, Process? child = null)
    {
        EndPoint = endPoint;
        EndPoints = [endPoint];
        Pid = pid;
        Description = description;
        _inProcess = inProcess;
        _child = child;
    }

    public IPEndPoint EndPoint { get; }

    /// <summary>Every broker the clients are spread over: <see cref="EndPoint"/> first, then the other brokers of its cluster.</summary>
    public IReadOnlyList<IPEndPoint> EndPoints { get; private init; } = [];

    // Other processes measured with the broker (the rest of a cluster, its nats-server).
    private IReadOnlyList<int> MorePids { get; init; } = [];

    /// <summary>The broker's process id when it is a process of its own, which makes it measurable.</summary>
    public int? Pid { get; }

    public string Description { get; }

    /// <summary>True when the broker runs inside this process: its memory is this process's.</summary>
    public bool InProcess => _inProcess is not null;

    public static Task<BrokerTarget> StartAsync(BenchOptions options, CancellationToken cancellationToken) =>
        StartAsync(options, extraConnections: 0, cancellationToken);

    /// <summary>
    /// Starts or reaches the broker; one it starts admits <paramref name="extraConnections"/> at
    /// once beyond the bench's clients (the soak's short-lived ones).
    /// </summary>
    public static async Task<BrokerTarget> StartAsync(BenchOptions options, int extraConnections, CancellationToken cancellationToken)
    {
        var maxClients = Math.Max(4096, options.Clients + extraConnections + 16);
        switch (options.Mode)
        {
            case BrokerMode.External:
                var servers = string.Join(",", new[] { options.Server! }.Concat(options.MoreServers));
                var pids = options.BrokerPid is { } pid ? string.Join(",", new[] { pid }.Concat(options.MorePids)) : null;
                return new BrokerTarget(options.Server!, options.BrokerPid, $"external at {servers}" + (pids is not null ? $", pid {pids}" : ", pid unknown"))
                {
                    EndPoints = [options.Server!, .. options.MoreServers],
                    MorePids = options.MorePids,
                };
            case BrokerMode.InProcess:
                var broker = await ChatBroker.StartAsync(
                    BrokerOptions.Default with { EndPoint = new IPEndPoint(IPAddress.Loopback, 0), MaxClients = maxClients },
                    cancellationToken);
                return new BrokerTarget(broker.LocalEndPoint, null, "in-process (its CPU is counted in the bench's)", inProcess: broker);
            default:
                return await StartChildAsync(maxClients, options.BrokerEnvironment, cancellationToken);
        }
    }

    /// <summary>CPU time of the broker process (summed over every measured process of a cluster).</summary>
    public TimeSpan? CpuTime() => Pid is { } pid ? Sum(pid, ProcStat.CpuTime, (a, b) => a + b) : null;

    public long? PeakRss() => Pid is { } pid ? Sum(pid, ProcStat.PeakRss, (a, b) => a + b) : null;

    /// <summary>Resident set now: the broker process's, or for an in-process broker this whole process's (load generator included).</summary>
    public long? Rss() => Pid is { } pid ? Sum(pid, ProcStat.Rss, (a, b) => a + b) : InProcess ? Environment.WorkingSet : null;

    /// <summary>For an in-process broker, the bytes the GC thinks are allocated in this process; null otherwise.</summary>
    public long? GcHeap() => InProcess ? GC.GetTotalMemory(forceFullCollection: false) : null;

    // Null when any process cannot be read: a partial sum would pass for the whole.
    private T? Sum<T>(int pid, Func<int, T?> read, Func<T, T, T> add)
        where T : struct
    {
        var total = read(pid);
        foreach (var more in MorePids)
        {
            total = total is { } sum && read(more) is { } value ? add(sum, value) : null;
        }

        return total;
    }

    public async ValueTask DisposeAsync()
    {
        if (_inProcess is not null)
        {
            await _inProcess.DisposeAsync();
        }

        if (_child is not null)
        {
            if (!_child.HasExited)
            {
                _child.Kill(entireProcessTree: true);
            }

            await _child.WaitForExitAsync();
            _child.Dispose();
        }
    }

    private static async Task<BrokerTarget> StartChildAsync(int maxClients, IReadOnlyList<string> environment, CancellationToken cancellationToken)
    {
        // Run this very build's broker: chatmesh.dll under the dotnet host, or, in the Native AOT
        // build (no dynamic code: the executable is the whole program, and a chatmesh.dll beside
        // it could only be a stale one), this executable itself. DOTNET_* variables in the
        // environment reach the broker too.
        var dll = Path.Combine(AppContext.BaseDirectory, "chatmesh.dll");
        var native = !System.Runtime.CompilerServices.RuntimeFeature.IsDynamicCodeSupported && Environment.ProcessPath is not null;
        var host = native ? Environment.ProcessPath! : Environment.ProcessPath is { } path && Path.GetFileNameWithoutExtension(path) == "dotnet" ? path : "dotnet";
        var start = new ProcessStartInfo(host)
        {
            RedirectStandardOutput = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        if (!native)
        {
            start.ArgumentList.Add(dll);
        }

        foreach (var argument in new[] { "broker", "--listen", "127.0.0.1:0", "--log-level", "Warning", "--max-clients", maxClients.ToString(System.Globalization.CultureInfo.InvariantCulture) })
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var setting in environment)
        {
            var equals = setting.IndexOf('=', StringComparison.Ordinal);
            start.Environment[setting[..equals]] = setting[(equals + 1)..];
        }

        var child = Process.Start(start) ?? throw new InvalidOperationException(native ? $"cannot start {host}" : $"cannot start {host} {dll}");
        try
        {
            var banner = await child.StandardOutput.ReadLineAsync(cancellationToken).AsTask().WaitAsync(StartTimeout, cancellationToken);
            if (banner is null || !ChatEndPoint.TryParse(banner[(banner.LastIndexOf(' ') + 1)..], out var endPoint, out _))
            {
                throw new InvalidOperationException($"the broker did not print its address (got '{banner}')");
            }

            // Nothing else is expected on its standard output; drain it so it can never block.
            _ = child.StandardOutput.BaseStream.CopyToAsync(Stream.Null, CancellationToken.None);
            return new BrokerTarget(endPoint, child.Id, $"child process, pid {child.Id}" + (environment.Count > 0 ? $", {string.Join(' ', environment)}" : ""), child: child);
        }
        catch
        {
            child.Kill(entireProcessTree: true);
            child.Dispose();
            throw;
        }
    }
}
