namespace LocalChatMesh.Storage;

/// <summary>
/// How much history a store keeps: per room at most <see cref="MaxMessagesPerRoom"/> of the
/// newest messages, and nothing older than <see cref="MaxAge"/>. Each value is checked when it is set.
/// </summary>
/// <param name="MaxMessagesPerRoom">The most messages kept per room: at least 1.</param>
/// <param name="MaxAge">
/// How long a message is kept: positive, or <see cref="Timeout.InfiniteTimeSpan"/> for no age limit.
/// </param>
public sealed record ChatStoreRetention(int MaxMessagesPerRoom, TimeSpan MaxAge)
{
    /// <summary>The retention used when none is given: 1,000 messages per room, 7 days.</summary>
    public static ChatStoreRetention Default { get; } = new(1000, TimeSpan.FromDays(7));

    /// <summary>The most messages kept per room: at least 1.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is less than 1.</exception>
    public int MaxMessagesPerRoom
    {
        get;
        init => field = CheckCount(value, nameof(MaxMessagesPerRoom));
    } = CheckCount(MaxMessagesPerRoom, nameof(MaxMessagesPerRoom));

    /// <summary>How long a message is kept: positive, or <see cref="Timeout.InfiniteTimeSpan"/> for no age limit.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is neither positive nor infinite.</exception>
    public TimeSpan MaxAge
    {
        get;
        init => field = CheckAge(value, nameof(MaxAge));
    } = CheckAge(MaxAge, nameof(MaxAge));

    // Messages with a time strictly before this are too old at `now`; MinValue when nothing is.
    internal DateTimeOffset OldestKept(DateTimeOffset now) =>
        MaxAge == Timeout.InfiniteTimeSpan || now.UtcTicks - DateTimeOffset.MinValue.UtcTicks <= MaxAge.Ticks
            ? DateTimeOffset.MinValue
            : now - MaxAge;

    private static int CheckCount(int value, string paramName) => value >= 1
        ? value
        : throw new ArgumentOutOfRangeException(paramName, value, "MaxMessagesPerRoom must be at least 1.");

    private static TimeSpan CheckAge(TimeSpan value, string paramName) => value > TimeSpan.Zero || value == Timeout.InfiniteTimeSpan
        ? value
        : throw new ArgumentOutOfRangeException(paramName, value, "MaxAge must be positive, or Timeout.InfiniteTimeSpan.");
}
