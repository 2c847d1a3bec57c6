using System.Net;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace LocalChatMesh.Monitoring;

/// <summary>Settings of a <see cref="ChatMonitor"/>; start from <see cref="Default"/> and change what you need with <c>with</c>.</summary>
public sealed record MonitorOptions
{
    /// <summary>Loopback, a port the system picks, the runtime's metrics included.</summary>
    public static MonitorOptions Default { get; } = new();

    /// <summary>
    /// The HTTP address to serve on. Port 0 picks a free port (<see cref="ChatMonitor.LocalEndPoint"/>
    /// says which). Only loopback unless <see cref="AllowNonLoopback"/> is set.
    /// </summary>
    public IPEndPoint EndPoint { get; init; } = new(IPAddress.Loopback, 0);

    /// <summary>Allow an address other than loopback: the metrics and health would be readable from other machines.</summary>
    public bool AllowNonLoopback { get; init; }

    /// <summary>
    /// Also export the .NET runtime's own <c>System.Runtime</c> meter (GC, memory, CPU time, thread
    /// pool, exceptions: <c>dotnet_*</c>). They describe the whole process.
    /// </summary>
    public bool RuntimeMetrics { get; init; } = true;

    /// <summary>Where faults (a health check that throws, a failing accept) are logged.</summary>
    public ILoggerFactory LoggerFactory { get; init; } = NullLoggerFactory.Instance;

    /// <summary>Checks the settings, as <see cref="ChatMonitor.Start"/> does.</summary>
    /// <exception cref="ArgumentException">A setting is missing or refused.</exception>
    public void Validate()
    {
        ArgumentNullException.ThrowIfNull(EndPoint, nameof(EndPoint));
        ArgumentNullException.ThrowIfNull(LoggerFactory, nameof(LoggerFactory));
        if (!AllowNonLoopback && !IPAddress.IsLoopback(EndPoint.Address))
        {
            throw new ArgumentException(
                $"{EndPoint.Address} is not a loopback address: the monitor would be reachable from other machines. Set {nameof(AllowNonLoopback)} to listen there.",
                nameof(EndPoint));
        }
    }
}
