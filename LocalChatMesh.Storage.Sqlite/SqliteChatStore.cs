using System.Diagnostics;
using System.Globalization;
using LocalChatMesh.Storage.Sqlite.Internal;
using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace LocalChatMesh.Storage.Sqlite;

/// <summary>
/// A durable <see cref="IChatStore"/> in one SQLite file: what <c>broker --store FILE</c> uses, so
/// that history, ids and the epoch survive a restart or a crash of the broker process.
/// </summary>
/// <remarks>
/// <para>
/// Durability: the file is in WAL mode with <c>synchronous=NORMAL</c>. A committed append is in the
/// write-ahead log, handed to the operating system, when <see cref="AppendAsync"/> completes, so it
/// survives the broker being killed (even with SIGKILL); it is not flushed to the disk on every
/// commit, so a power cut or a kernel crash may lose the last appends (never corrupt the file).
/// </para>
/// <para>
/// One broker per file: the store holds an exclusive lock on a file beside it (<c>FILE-lock</c>,
/// left in place when the store closes) from <see cref="OpenAsync"/> until <see cref="DisposeAsync"/>,
/// so a second store fails to open it with a clear message instead of the two interleaving their
/// ids. The operating system drops the lock when the process dies. Other programs (the
/// <c>sqlite3</c> shell) may read the file meanwhile; they must not write to it.
/// </para>
/// <para>
/// Checkpoints (copying the write-ahead log into the file) run on a connection and a thread of
/// their own; an append waits for one only when the log starts again (WalCheckpointer).
/// </para>
/// <para>
/// Every failure the person running the broker can act on is a <see cref="ChatStoreException"/>
/// with one line naming the file. The store never deletes or recreates a file it cannot read.
/// </para>
/// </remarks>
public sealed class SqliteChatStore : IChatStore
{
    /// <summary>The schema this code writes and reads (<c>PRAGMA user_version</c>).</summary>
    /// <remarks>
    /// 2: <c>meta.last_id</c> is a lower bound (the highest id is the larger of it and the newest
    /// row's), written only when open deletes rows (an append never deletes its newest row): one
    /// page less per commit. A version-1 file, where it is
    /// exact, is read the same way and marked 2 when opened; a version-1 broker refuses a version-2
    /// file instead of taking an id that is already in it.
    /// </remarks>
    internal const int SchemaVersion = 2;

    /// <summary>Marks the file as a Local Chat Mesh store (<c>PRAGMA application_id</c>): "LCMS".</summary>
    internal const int ApplicationId = 0x4C434D53;

    private const string ReadOnly = "permission denied (the file or its directory is read-only)";

    // How long open waits for a lock another process holds before it reports the store in use.
    private const int LockWaitSeconds = 1;

    private readonly SqliteChatStoreOptions _options;
    private readonly Lock _lock = new();
    private readonly Lock _order = new();
    private readonly RetainedMessages _retained = new();

    // Rows beyond the count limit, dropped from the retained set but not deleted from the file yet:
    // deleted together once there are DeletesPerWrite of them, on each age check, and at close.
    private readonly List<long> _unwritten = [];
    private FileStream? _lockFile;
    private SqliteConnection? _connection;
    private WalCheckpointer? _checkpointer;
    private Statements? _statements;
    private ChatStoreRetention? _retention;
    private long _lastId;
    private DateTimeOffset _nextAgeTrim;
    private bool _disposed;
    private Task _tail = Task.CompletedTask;

    /// <summary>Creates a store for the file at <paramref name="path"/>; nothing is opened until <see cref="OpenAsync"/>.</summary>
    /// <param name="path">The database file; created by <see cref="OpenAsync"/> if missing (its directory must exist).</param>
    /// <param name="options">Settings; <see cref="SqliteChatStoreOptions.Default"/> when null.</param>
    /// <exception cref="ArgumentException">The path is empty or not a valid path.</exception>
    public SqliteChatStore(string path, SqliteChatStoreOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        Path = System.IO.Path.GetFullPath(path);
        _options = options ?? SqliteChatStoreOptions.Default;
    }

    /// <summary>The full path of the database file.</summary>
    public string Path { get; }

    /// <inheritdoc />
    public Task<ChatStoreSnapshot> OpenAsync(ChatStoreRetention retention, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(retention);
        return Task.Run(() => Open(retention), cancellationToken);
    }

    /// <inheritdoc />
    /// <remarks>
    /// The batch is written on the thread pool, never on the caller's thread. Appends may be started
    /// without waiting for the previous one: they are written one after another in the order they
    /// were called. The batch is read when it is written, so it must not change until the task completes.
    /// </remarks>
    public Task AppendAsync(IReadOnlyList<StoredChat> batch, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(batch);
        lock (_order)
        {
            // A chain, not Task.Run: two appends in flight must not overtake each other.
            var append = _tail.ContinueWith(
                _ => Append(batch),
                cancellationToken,
                TaskContinuationOptions.LazyCancellation,
                TaskScheduler.Default);
            _tail = append;
            return append;
        }
    }

    /// <summary>
    /// Waits for the appends already started, then closes the file and releases its lock; what was
    /// committed stays. Appends started afterwards fail with <see cref="ObjectDisposedException"/>.
    /// </summary>
    /// <returns>A task that completes once the file is closed.</returns>
    public async ValueTask DisposeAsync()
    {
        Task pending;
        lock (_order)
        {
            pending = _tail;
        }

        await pending.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        lock (_lock)
        {
            if (!_disposed)
            {
                _disposed = true;
                Close();
            }
        }
    }

    private ChatStoreSnapshot Open(ChatStoreRetention retention)
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_connection is not null)
            {
                throw new InvalidOperationException("The store is open already.");
            }

            CheckPlace();
            var lockFile = TakeLock();
            var connection = Connect();
            SqliteConnection? checkpoints = null;
            try
            {
                connection.Open();
                var snapshot = OpenDatabase(connection, retention);
                if (WalCheckpointer.Supported)
                {
                    checkpoints = Connect();
                    checkpoints.Open();
                    Execute(checkpoints, $"PRAGMA busy_timeout={(LockWaitSeconds * 1000).ToString(CultureInfo.InvariantCulture)}");
                    // A connection finds the file in WAL mode on its first read; before that it cannot checkpoint.
                    Scalar(checkpoints, "PRAGMA journal_mode");
                }

                _statements = new Statements(connection);
                if (checkpoints is not null)
                {
                    _checkpointer = new WalCheckpointer(connection, checkpoints, _options.FramesPerCheckpoint, _options.FramesPerRestart);
                }

                _connection = connection;
                _lockFile = lockFile;
                _retention = retention;
                return snapshot;
            }
            catch (Exception exception)
            {
                checkpoints?.Dispose();
                connection.Dispose();
                lockFile.Dispose();
                if (exception is SqliteException sqlite)
                {
                    throw StoreErrors.From(sqlite, Path, writing: false);
                }

                throw;
            }
        }
    }

    private SqliteConnection Connect() => new(new SqliteConnectionStringBuilder
    {
        DataSource = Path,
        Mode = SqliteOpenMode.ReadWriteCreate,
        // A pooled connection would keep the file open after DisposeAsync.
        Pooling = false,
        DefaultTimeout = LockWaitSeconds,
    }.ToString());

    // One broker per store. SQLite's own exclusive locking mode would do it, but it also shuts out
    // the second connection that checkpoints; and a lock on the database file itself would be
    // dropped with SQLite's POSIX locks whenever any descriptor of it is closed in this process.
    private FileStream TakeLock()
    {
        var path = Path + "-lock";
        try
        {
            // FileShare.None is an exclusive flock on Unix, held until the stream is disposed.
            return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (UnauthorizedAccessException exception)
        {
            throw StoreErrors.CannotOpen(Path, ReadOnly, exception);
        }
        catch (IOException exception) when (File.Exists(path))
        {
            throw StoreErrors.InUse(Path, exception);
        }
        catch (IOException exception)
        {
            throw StoreErrors.CannotOpen(Path, $"its lock file '{path}' cannot be created ({exception.Message.ReplaceLineEndings(" ")})", exception);
        }
    }

    // Friendlier messages than SQLite's "unable to open database file" for the usual mistakes,
    // and, for a new file, a real attempt to create it.
    private void CheckPlace()
    {
        if (Directory.Exists(Path))
        {
            throw StoreErrors.CannotOpen(Path, "it is a directory");
        }

        var directory = System.IO.Path.GetDirectoryName(Path);
        if (directory is not null && !Directory.Exists(directory))
        {
            throw StoreErrors.CannotOpen(Path, File.Exists(directory)
                ? $"'{directory}' is not a directory"
                : $"directory '{directory}' does not exist");
        }

        if (File.Exists(Path))
        {
            // No probe of an existing file: closing any descriptor of it would drop the POSIX locks
            // this process may hold on it through another connection (SQLite's classic pitfall).
            // A read-only file is caught after SQLite opens it instead (sqlite3_db_readonly).
            return;
        }

        // SQLite would replay a log left beside a deleted file into the new one: old history under a
        // new epoch, or a corrupt file.
        if (File.Exists(Path + "-wal"))
        {
            throw StoreErrors.CannotOpen(Path, $"the file is missing but its write-ahead log '{Path}-wal' is still there; move that away too to start a new store");
        }

        try
        {
            using var probe = new FileStream(Path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete);
        }
        catch (UnauthorizedAccessException exception)
        {
            throw StoreErrors.CannotOpen(Path, ReadOnly, exception);
        }
        catch (IOException exception) when (!File.Exists(Path))
        {
            throw StoreErrors.CannotOpen(Path, exception.Message.ReplaceLineEndings(" "), exception);
        }
    }

    private ChatStoreSnapshot OpenDatabase(SqliteConnection connection, ChatStoreRetention retention)
    {
        // SQLite falls back to reading a file it may not write (read-only, immutable, read-only mount).
        if (raw.sqlite3_db_readonly(connection.Handle, "main") == 1)
        {
            throw StoreErrors.CannotOpen(Path, ReadOnly);
        }

        var mode = Convert.ToString(Scalar(connection, "PRAGMA journal_mode=WAL"), CultureInfo.InvariantCulture);
        if (!string.Equals(mode, "wal", StringComparison.OrdinalIgnoreCase))
        {
            throw StoreErrors.CannotOpen(Path, $"the file cannot be switched to WAL mode (it stays in '{mode}'; is it read-only?)");
        }

        // WAL + NORMAL: a commit reaches the operating system before it completes (it survives the
        // process being killed) but is not fsynced each time (a power cut may lose the last ones).
        Execute(connection, "PRAGMA synchronous=NORMAL");
        // Appends run BEGIN IMMEDIATE through SQLite directly, so SQLite's own busy handler is what
        // waits (as Microsoft.Data.Sqlite's retries did) if a reader of the file is recovering it.
        Execute(connection, $"PRAGMA busy_timeout={(LockWaitSeconds * 1000).ToString(CultureInfo.InvariantCulture)}");
        Execute(connection, "PRAGMA cache_size=-16384");
        // Checkpoints are WalCheckpointer's, on its own connection (it replaces SQLite's WAL hook).
        if (WalCheckpointer.Supported)
        {
            Execute(connection, "PRAGMA wal_autocheckpoint=0");
        }
        // After a checkpoint the log is reused from its start; this only stops one huge batch from
        // leaving a huge file behind.
        Execute(connection, "PRAGMA journal_size_limit=16777216");
        if (_options.MaxPageCount > 0)
        {
            Execute(connection, $"PRAGMA max_page_count={_options.MaxPageCount.ToString(CultureInfo.InvariantCulture)}");
        }

        Execute(connection, "BEGIN IMMEDIATE");
        var version = Convert.ToInt64(Scalar(connection, "PRAGMA user_version"), CultureInfo.InvariantCulture);
        if (version == 0)
        {
            if (Convert.ToInt64(Scalar(connection, "SELECT count(*) FROM sqlite_schema"), CultureInfo.InvariantCulture) != 0)
            {
                throw StoreErrors.NotAStore(Path, "it is an SQLite database with other tables");
            }

            CreateSchema(connection);
        }
        else if (version > SchemaVersion)
        {
            throw StoreErrors.Newer(Path, version, SchemaVersion);
        }
        else if (Convert.ToInt64(Scalar(connection, "PRAGMA application_id"), CultureInfo.InvariantCulture) != ApplicationId)
        {
            throw StoreErrors.NotAStore(Path, "it is an SQLite database of another application");
        }

        var epoch = Convert.ToString(Scalar(connection, "SELECT value FROM meta WHERE key = 'epoch'"), CultureInfo.InvariantCulture);
        var lastIdValue = Scalar(connection, "SELECT value FROM meta WHERE key = 'last_id'");
        if (string.IsNullOrEmpty(epoch) || lastIdValue is null or DBNull)
        {
            throw StoreErrors.NotAStore(Path, "its epoch or last id is missing");
        }

        var now = _options.TimeProvider.GetUtcNow();
        var all = ReadAll(connection);
        // Schema 2: meta holds the last id as of the last open that deleted rows (or schema 1's last commit); the newest row tells it since.
        var lastId = Math.Max(Convert.ToInt64(lastIdValue, CultureInfo.InvariantCulture), all.Count == 0 ? 0 : all[^1].Id);
        if (version < SchemaVersion)
        {
            Execute(connection, $"PRAGMA user_version={SchemaVersion.ToString(CultureInfo.InvariantCulture)}");
        }

        var dropped = _retained.Load(all, retention, OldestKept(retention, now));
        if (dropped.Count > 0)
        {
            using (var setLastId = connection.CreateCommand())
            {
                setLastId.CommandText = "UPDATE meta SET value = $last WHERE key = 'last_id'";
                setLastId.Parameters.AddWithValue("$last", lastId);
                setLastId.ExecuteNonQuery();
            }

            using var delete = connection.CreateCommand();
            delete.CommandText = "DELETE FROM chat WHERE id = $id";
            var id = delete.Parameters.Add("$id", SqliteType.Integer);
            foreach (var dead in dropped)
            {
                id.Value = dead;
                delete.ExecuteNonQuery();
            }
        }

        Execute(connection, "COMMIT");

        _lastId = lastId;
        _nextAgeTrim = now + _options.AgeTrimInterval;
        var messages = dropped.Count == 0 ? all : all.FindAll(m => !dropped.Contains(m.Id));
        return new ChatStoreSnapshot(epoch, lastId, messages);
    }

    private static void CreateSchema(SqliteConnection connection)
    {
        // Ids are the rowid, so appends go to the end of the table; no other index: retention is
        // worked out in memory (RetainedMessages) and deletes by id. Room is NOCASE so that a query
        // by hand (WHERE room = 'dev') matches as the protocol does; time is Unix milliseconds (UTC).
        Execute(connection, """
            CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value NOT NULL) WITHOUT ROWID;
            CREATE TABLE chat (
                id INTEGER PRIMARY KEY,
                room TEXT NOT NULL COLLATE NOCASE,
                time INTEGER NOT NULL,
                nickname TEXT NOT NULL,
                text TEXT NOT NULL);
            """);
        using (var insert = connection.CreateCommand())
        {
            insert.CommandText = "INSERT INTO meta (key, value) VALUES ('epoch', $epoch), ('last_id', 0)";
            insert.Parameters.AddWithValue("$epoch", NewEpoch());
            insert.ExecuteNonQuery();
        }

        Execute(connection, $"PRAGMA application_id={ApplicationId.ToString(CultureInfo.InvariantCulture)}");
        Execute(connection, $"PRAGMA user_version={SchemaVersion.ToString(CultureInfo.InvariantCulture)}");
    }

    private static List<StoredChat> ReadAll(SqliteConnection connection)
    {
        using var select = connection.CreateCommand();
        select.CommandText = "SELECT id, room, time, nickname, text FROM chat ORDER BY id";
        using var reader = select.ExecuteReader();
        var messages = new List<StoredChat>();
        while (reader.Read())
        {
            messages.Add(new StoredChat(
                reader.GetInt64(0),
                reader.GetString(1),
                DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(2)),
                reader.GetString(3),
                reader.GetString(4)));
        }

        return messages;
    }

    private void Append(IReadOnlyList<StoredChat> batch)
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_connection is null || _statements is null || _retention is null)
            {
                throw new InvalidOperationException("The store is not open: call OpenAsync first.");
            }

            StoredChatBatch.EnsureIncreasingIds(batch, _lastId);
            if (batch.Count == 0)
            {
                return;
            }

            var statements = _statements;
            var now = _options.TimeProvider.GetUtcNow();
            var trimAge = now >= _nextAgeTrim;
            var planned = _retained.Plan(batch, _retention.MaxMessagesPerRoom, trimAge ? OldestKept(_retention, now) : null);

            // Deleting a room's oldest rows writes a page of its own (the table's first pages, while
            // inserts go to its last one), so the count limit's deletes wait for a few hundred.
            var unwritten = _unwritten.Count;
            _unwritten.AddRange(planned);
            var deletes = trimAge || _unwritten.Count >= _options.DeletesPerWrite;
            var newest = batch[^1].Id;
            try
            {
                statements.Begin();
                statements.Insert(batch);
                if (deletes)
                {
                    // Never the newest row (Plan keeps each batch's newest message), which therefore
                    // tells the last id: meta is written only when open deletes rows (schema 2).
                    Debug.Assert(!_unwritten.Contains(newest), "an append deleted its newest message");
                    statements.Delete(_unwritten);
                }

                statements.Commit();
            }
            catch (Exception exception)
            {
                statements.RollBackIfOpen();
                _unwritten.RemoveRange(unwritten, _unwritten.Count - unwritten);
                if (exception is SqliteException sqlite)
                {
                    var error = StoreErrors.From(sqlite, Path, writing: true);
                    throw new ChatStoreException($"{error.Message} (a batch of {batch.Count} messages, ids {batch[0].Id}-{batch[^1].Id}, was not stored)", sqlite);
                }

                throw;
            }

            _retained.Commit();
            _checkpointer?.Committed();
            _lastId = newest;
            if (deletes)
            {
                _unwritten.Clear();
            }

            if (trimAge)
            {
                _nextAgeTrim = now + _options.AgeTrimInterval;
            }
        }
    }

    // At close: the deletes still waiting, so that the file holds what is retained. Best effort:
    // the next open applies retention again anyway.
    private void WriteDeletes()
    {
        if (_unwritten.Count == 0 || _statements is null)
        {
            return;
        }

        try
        {
            _statements.Begin();
            _statements.Delete(_unwritten);
            _statements.Commit();
            _unwritten.Clear();
        }
        catch (SqliteException)
        {
            _statements.RollBackIfOpen();
        }
    }

    internal long CountRowsForTesting()
    {
        lock (_lock)
        {
            var connection = _connection ?? throw new InvalidOperationException("The store is not open.");
            return Convert.ToInt64(Scalar(connection, "SELECT count(*) FROM chat"), CultureInfo.InvariantCulture);
        }
    }

    internal int CheckpointsForTesting => _checkpointer?.Checkpoints ?? 0;

    internal int LogRestartsForTesting => _checkpointer?.Restarts ?? 0;

    private void Close()
    {
        WriteDeletes();
        _checkpointer?.Dispose();
        _checkpointer = null;
        _statements?.Dispose();
        _statements = null;
        // The last connection to close copies what is left of the log and deletes it.
        _connection?.Dispose();
        _connection = null;
        _lockFile?.Dispose();
        _lockFile = null;
    }


    // Unix milliseconds before which messages are too old, or null when nothing is.
    private static long? OldestKept(ChatStoreRetention retention, DateTimeOffset now) =>
        retention.MaxAge == Timeout.InfiniteTimeSpan || now.UtcTicks - DateTimeOffset.MinValue.UtcTicks <= retention.MaxAge.Ticks
            ? null
            : (now - retention.MaxAge).ToUnixTimeMilliseconds();

    // 128 random bits; a new store, or a wiped one, gets a new epoch.
    private static string NewEpoch() => Guid.NewGuid().ToString("N");

    private static void Execute(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    private static object? Scalar(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return command.ExecuteScalar();
    }
}
