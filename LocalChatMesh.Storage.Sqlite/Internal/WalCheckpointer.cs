using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace LocalChatMesh.Storage.Sqlite.Internal;

/// <summary>
/// Copies the write-ahead log into the database file on a connection and a thread of its own, so
/// that an append never waits for a checkpoint. SQLite's automatic checkpoint runs inside the
/// commit that crosses its threshold, fsyncs included, and every chat accepted meanwhile waited
/// behind it: most of the store's latency tail (BENCHMARKS.md, "Paced with --store").
/// </summary>
/// <remarks>
/// The writer commits with <c>wal_autocheckpoint=0</c> and calls <see cref="Committed"/> after each
/// commit. Every <see cref="DefaultCommitsPerCheckpoint"/> commits (8 MiB of log or more), or after
/// <see cref="IdleDelay"/> with commits not yet copied, the thread runs a PASSIVE checkpoint, which
/// takes no lock the writer needs. The log starts again from its beginning only when a writer finds
/// all of it copied, so after a pause it does; under load without a pause new frames always follow
/// the ones a concurrent checkpoint copied, and the log would only grow. So every
/// <see cref="DefaultCommitsPerRestart"/> commits (64 MiB of log or more) <see cref="Committed"/>
/// has the writer checkpoint on its own connection between two commits: what the thread has not
/// copied yet, then the log restarts. Under sustained load that is one short stall (the
/// checkpoint's fsyncs) per that many commits, where SQLite's automatic checkpoint stalls a commit
/// every 1,000 pages (4 MiB) of log.
/// </remarks>
internal sealed class WalCheckpointer : IDisposable
{
    internal const int DefaultCommitsPerCheckpoint = 2_048;
    internal const int DefaultCommitsPerRestart = 16_384;
    internal static readonly TimeSpan IdleDelay = TimeSpan.FromSeconds(1);

    private readonly SqliteConnection _connection;
    private readonly int _commitsPerCheckpoint;
    private readonly int _commitsPerRestart;
    private readonly SemaphoreSlim _wake = new(0, 1);
    private readonly Thread _thread;
    private int _commits;
    private int _checkpoints;
    private int _restarts;
    private volatile RestartState _restart;
    private volatile bool _stopping;

    public WalCheckpointer(SqliteConnection connection, int commitsPerCheckpoint, int commitsPerRestart)
    {
        _connection = connection;
        _commitsPerCheckpoint = commitsPerCheckpoint;
        _commitsPerRestart = commitsPerRestart;
        _thread = new Thread(Run) { IsBackground = true, Name = "chat store checkpoint" };
        _thread.Start();
    }

    /// <summary>Checkpoints run so far (for tests).</summary>
    internal int Checkpoints => Volatile.Read(ref _checkpoints);

    /// <summary>Times the writer restarted the log after copying what was left (for tests).</summary>
    internal int Restarts => Volatile.Read(ref _restarts);

    /// <summary>Called by the writer after each commit (on its thread, between two commits).</summary>
    /// <param name="writer">The writer's connection, which checkpoints itself when the log must restart.</param>
    public void Committed(SqliteConnection writer)
    {
        var commits = Interlocked.Increment(ref _commits);
        if (_restart == RestartState.Copied)
        {
            // The commit just made found the whole log copied and wrote from its start again.
            _restart = RestartState.None;
            Interlocked.Increment(ref _restarts);
        }
        else if (_restart == RestartState.Due || commits % _commitsPerRestart == 0)
        {
            // SQLITE_BUSY while the thread's checkpoint runs: try again after the next commit.
            _restart = Checkpoint(writer) ? RestartState.Copied : RestartState.Due;
        }
        else if (commits % _commitsPerCheckpoint == 0)
        {
            Wake();
        }
    }

    /// <summary>Stops the thread after the checkpoint in progress, if any, and closes the connection.</summary>
    public void Dispose()
    {
        _stopping = true;
        Wake();
        _thread.Join();
        _connection.Dispose();
        _wake.Dispose();
    }

    private void Wake()
    {
        try
        {
            _wake.Release();
        }
        catch (SemaphoreFullException)
        {
            // Already woken: one checkpoint copies everything committed so far.
        }
    }

    private void Run()
    {
        var copied = 0;
        while (!_stopping)
        {
            _wake.Wait(IdleDelay);
            var commits = Volatile.Read(ref _commits);
            // While the writer restarts the log, a checkpoint here would keep it from doing so.
            if (_stopping || commits == copied || _restart != RestartState.None)
            {
                continue;
            }

            copied = commits;
            Checkpoint(_connection);
        }
    }

    // True when the whole log is in the database file. A failure (the disk full, an I/O error;
    // SQLITE_BUSY while the other connection checkpoints) is not the append's: appends still commit
    // into the log and report their own errors, and a later round tries again.
    private bool Checkpoint(SqliteConnection connection)
    {
        var result = raw.sqlite3_wal_checkpoint_v2(connection.Handle, "main", raw.SQLITE_CHECKPOINT_PASSIVE, out var log, out var copied);
        Interlocked.Increment(ref _checkpoints);
        return result == raw.SQLITE_OK && log == copied;
    }

    private enum RestartState
    {
        None,
        Due,
        Copied,
    }
}
