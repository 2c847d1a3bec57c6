using System.Reactive.Concurrency;

namespace LocalChatMesh;

/// <summary>
/// How a <see cref="ChatClient"/> comes back after an established connection is lost
/// (<see cref="ChatClientOptions.Reconnect"/>): exponential backoff with jitter, up to a maximum
/// delay, for a number of attempts or forever. Each value is checked when it is set; the pair
/// <see cref="InitialDelay"/>/<see cref="MaxDelay"/> when the policy is given to
/// <see cref="ChatClientOptions.Reconnect"/>.
/// </summary>
/// <remarks>
/// The delay before attempt <c>n</c> (1, 2, …) is <c>d = min(MaxDelay, InitialDelay × Multiplier^(n-1))</c>
/// times a random factor in <c>[1 - Jitter, 1 + Jitter)</c>: with the defaults about 1, 2, 4, 8, 16,
/// 30, 30… seconds, each within ±20 %. Jitter spreads clients that lost the same broker so they do
/// not all come back in the same millisecond; it may take a delay past <see cref="MaxDelay"/> by up
/// to that factor.
/// </remarks>
public sealed record ChatReconnectPolicy
{
    /// <summary>1 s, doubling, at most 30 s, ±20 % jitter, forever, on the default scheduler.</summary>
    public static ChatReconnectPolicy Default { get; } = new();

    /// <summary>The delay before the first attempt: 1 second by default; zero is allowed.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is negative.</exception>
    public TimeSpan InitialDelay
    {
        get;
        init => field = value >= TimeSpan.Zero
            ? value
            : throw new ArgumentOutOfRangeException(nameof(InitialDelay), value, "InitialDelay must be zero or more.");
    } = TimeSpan.FromSeconds(1);

    /// <summary>The longest delay between attempts, before jitter: 30 seconds by default. At least <see cref="InitialDelay"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is negative.</exception>
    public TimeSpan MaxDelay
    {
        get;
        init => field = value >= TimeSpan.Zero
            ? value
            : throw new ArgumentOutOfRangeException(nameof(MaxDelay), value, "MaxDelay must be zero or more.");
    } = TimeSpan.FromSeconds(30);

    /// <summary>What each delay is multiplied by for the next attempt: 2 by default; 1 keeps it constant.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is less than 1 or not a finite number.</exception>
    public double Multiplier
    {
        get;
        init => field = double.IsFinite(value) && value >= 1
            ? value
            : throw new ArgumentOutOfRangeException(nameof(Multiplier), value, "Multiplier must be a finite number, 1 or more.");
    } = 2;

    /// <summary>
    /// How far each delay is spread at random, from 0 (none) to 1: 0.2 by default, a factor in
    /// <c>[0.8, 1.2)</c>.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is not between 0 and 1.</exception>
    public double Jitter
    {
        get;
        init => field = value is >= 0 and <= 1
            ? value
            : throw new ArgumentOutOfRangeException(nameof(Jitter), value, "Jitter must be between 0 and 1.");
    } = 0.2;

    /// <summary>
    /// How many attempts to make before giving up (the client is then closed); null (the default)
    /// tries forever.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is less than 1.</exception>
    public int? MaxAttempts
    {
        get;
        init => field = value is null or >= 1
            ? value
            : throw new ArgumentOutOfRangeException(nameof(MaxAttempts), value, "MaxAttempts must be at least 1, or null for no limit.");
    }

    /// <summary>
    /// Where the delays are timed: <see cref="DefaultScheduler.Instance"/> by default. A test gives a
    /// virtual-time scheduler (Microsoft.Reactive.Testing's <c>TestScheduler</c>) to run backoff instantly.
    /// </summary>
    /// <exception cref="ArgumentNullException">The value is null.</exception>
    public IScheduler Scheduler
    {
        get;
        init => field = value ?? throw new ArgumentNullException(nameof(Scheduler));
    } = DefaultScheduler.Instance;

    /// <summary>
    /// The source of the jitter: null (the default) uses <see cref="System.Random.Shared"/>; a seeded
    /// <see cref="System.Random"/> makes the delays repeatable in tests (the policy locks it while drawing).
    /// </summary>
    public Random? Random { get; init; }

    /// <summary>Checks what single values cannot: the delays' order.</summary>
    internal void Validate()
    {
        if (MaxDelay < InitialDelay)
        {
            throw new ArgumentException(
                $"Reconnect.MaxDelay ({MaxDelay}) must be at least Reconnect.InitialDelay ({InitialDelay}).",
                nameof(ChatClientOptions.Reconnect));
        }
    }

    /// <summary>The delay before attempt <paramref name="attempt"/> (1, 2, …) without jitter.</summary>
    internal TimeSpan BaseDelay(int attempt)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(attempt, 1);
        var ticks = InitialDelay.Ticks * Math.Pow(Multiplier, attempt - 1);
        return double.IsFinite(ticks) && ticks < MaxDelay.Ticks ? TimeSpan.FromTicks((long)ticks) : MaxDelay;
    }

    /// <summary>The delay before attempt <paramref name="attempt"/>, jitter included.</summary>
    internal TimeSpan NextDelay(int attempt)
    {
        var delay = BaseDelay(attempt);
        if (Jitter == 0 || delay == TimeSpan.Zero)
        {
            return delay;
        }

        double sample;
        if (Random is { } random)
        {
            lock (random)
            {
                sample = random.NextDouble();
            }
        }
        else
        {
            sample = System.Random.Shared.NextDouble();
        }

        return TimeSpan.FromTicks((long)(delay.Ticks * (1 - Jitter + (2 * Jitter * sample))));
    }
}
