namespace LocalChatMesh.Storage.Sqlite;

/// <summary>Settings for a <see cref="SqliteChatStore"/>. Each value is checked when it is set.</summary>
public sealed record SqliteChatStoreOptions
{
    /// <summary>The settings used when none are given.</summary>
    public static SqliteChatStoreOptions Default { get; } = new();

    /// <summary>
    /// The clock that age retention reads (<see cref="ChatStoreRetention.MaxAge"/>):
    /// <see cref="TimeProvider.System"/> by default; a fake one in tests.
    /// </summary>
    /// <exception cref="ArgumentNullException">The value is null.</exception>
    public TimeProvider TimeProvider
    {
        get;
        init => field = value ?? throw new ArgumentNullException(nameof(TimeProvider));
    } = TimeProvider.System;

    /// <summary>
    /// How often, at most, an append also deletes messages older than the retention's
    /// <see cref="ChatStoreRetention.MaxAge"/>: 10 seconds by default. The count limit is applied on
    /// every append; the age limit is checked this often because it changes only with time. The
    /// rows either limit drops are deleted from the file together, a few hundred at a time, and at
    /// the latest on the next age check or when the store closes.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is not positive.</exception>
    public TimeSpan AgeTrimInterval
    {
        get;
        init => field = value > TimeSpan.Zero
            ? value
            : throw new ArgumentOutOfRangeException(nameof(AgeTrimInterval), value, "AgeTrimInterval must be positive.");
    } = TimeSpan.FromSeconds(10);

    // For tests: caps the database at this many pages (PRAGMA max_page_count), so that "the disk is
    // full" can be provoked without filling a disk. 0 leaves SQLite's default.
    internal long MaxPageCount { get; init; }

    // How many rows beyond the count limit wait before they are deleted together (SqliteChatStore);
    // small in tests, to see both sides.
    internal int DeletesPerWrite { get; init; } = 256;

    // For tests: how often the background checkpoint runs, and when it restarts the log (WalCheckpointer).
    internal int FramesPerCheckpoint { get; init; } = Internal.WalCheckpointer.DefaultFramesPerCheckpoint;

    internal int FramesPerRestart { get; init; } = Internal.WalCheckpointer.DefaultFramesPerRestart;
}
