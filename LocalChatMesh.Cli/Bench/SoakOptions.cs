using System.Globalization;
using System.Net;

namespace LocalChatMesh.Cli.Bench;

/// <summary>One soak run's settings: stable traffic (a paced bench workload) plus churn, for a while.</summary>
internal sealed record SoakOptions
{
    /// <summary>The most bookkeeping the receivers may need (a bit per client per message) before a run is refused.</summary>
    public const long MaxTrackingBytes = 256L * 1024 * 1024;

    /// <summary>How long the traffic lasts: the senders' schedules and the churn.</summary>
    public TimeSpan Duration { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Clients connected for the whole run; all of them receive.</summary>
    public int Clients { get; init; } = 50;

    /// <summary>How many of the stable clients send.</summary>
    public int Senders { get; init; } = 5;

    /// <summary>Messages per second per sender.</summary>
    public double Rate { get; init; } = 50;

    /// <summary>Short-lived clients connecting at once; each one that leaves is replaced at once.</summary>
    public int Churn { get; init; } = 20;

    /// <summary>Time between two samples of the timeline, or null for 10 s (less for runs under 100 s).</summary>
    public TimeSpan? SampleInterval { get; init; }

    /// <summary>How long to wait, after the churn has stopped and everything is delivered, before the last memory reading.</summary>
    public TimeSpan Settle { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How long without a delivery, a send or a sender waiting for its schedule before the run
    /// stops waiting: during the traffic a stall (senders stuck in a send) ends it early; after
    /// it, the rest counts as lost.
    /// </summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromSeconds(10);

    public BrokerMode Mode { get; init; } = BrokerMode.ChildProcess;

    public IPEndPoint? Server { get; init; }

    public int? BrokerPid { get; init; }

    /// <summary>Environment variables for a child broker only, as NAME=VALUE.</summary>
    public IReadOnlyList<string> BrokerEnvironment { get; init; } = [];

    /// <summary>Bytes of chat text in the stable senders' messages.</summary>
    public int Size { get; init; } = 64;

    /// <summary>How many messages each sender sends: its rate over the whole duration.</summary>
    public int MessagesPerSender => (int)Math.Clamp(Math.Ceiling(Duration.TotalSeconds * Rate), 1, int.MaxValue);

    /// <summary>The sampling interval in effect.</summary>
    public TimeSpan EffectiveSampleInterval => SampleInterval
        ?? TimeSpan.FromSeconds(Math.Clamp(Duration.TotalSeconds / 10, 0.5, 10));

    /// <summary>The stable part of the load as a bench workload: paced senders, every client receives.</summary>
    public BenchOptions StableWorkload => new()
    {
        Clients = Clients,
        Senders = Senders,
        Messages = MessagesPerSender,
        Size = Size,
        Rate = Rate,
        Mode = Mode,
        Server = Server,
        BrokerPid = BrokerPid,
        BrokerEnvironment = BrokerEnvironment,
        IdleTimeout = IdleTimeout,
    };

    /// <summary>Returns the first problem with the settings, or null.</summary>
    public string? Validate() => this switch
    {
        _ when !(Duration > TimeSpan.Zero) || Duration > TimeSpan.FromDays(7) => "--minutes must be positive and at most 10080 (a week)",
        { Clients: < 1 } => "--clients must be at least 1",
        { Senders: < 0 } => "--senders must not be negative",
        _ when Senders > Clients => "--senders must not exceed --clients",
        _ when !(Rate > 0) || !double.IsFinite(Rate) => "--rate must be positive",
        { Churn: < 0 } => "--churn must not be negative",
        { Churn: > 10_000 } => "--churn must be at most 10000",
        _ when SampleInterval is { } interval && (interval <= TimeSpan.Zero || interval > TimeSpan.FromDays(1)) => "--sample-interval must be positive and at most 86400 seconds",
        _ when !(IdleTimeout > TimeSpan.Zero) || IdleTimeout > TimeSpan.FromHours(1) => "--idle-timeout must be positive and at most 3600 seconds",
        _ when Settle < TimeSpan.Zero || Settle > TimeSpan.FromHours(1) => "--settle must be between 0 and 3600 seconds",
        _ when Duration.TotalSeconds * Rate > 999_999_999 => "--minutes times --rate is more than 999,999,999 messages per sender",
        _ when TrackingBytes > MaxTrackingBytes => string.Create(CultureInfo.InvariantCulture, $"the receivers would need {TrackingBytes / (1024 * 1024):0} MB to track every message (a bit per client per message, at most {MaxTrackingBytes / (1024 * 1024)} MB): shorten the run, or lower --rate, --senders or --clients"),
        _ => StableWorkload.Validate(),
    };

    private double TrackingBytes => (double)Clients * Senders * Math.Ceiling(Duration.TotalSeconds * Rate) / 8;
}
