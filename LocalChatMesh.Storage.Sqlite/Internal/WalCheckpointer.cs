using System.Runtime.InteropServices;
using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace LocalChatMesh.Storage.Sqlite.Internal;

/// <summary>
/// Copies the write-ahead log into the database file on a connection and a thread of its own, so
/// that an append rarely waits for a checkpoint. SQLite's automatic checkpoint runs inside the
/// commit that crosses 1,000 pages of log, fsyncs included, and every chat accepted meanwhile
/// waited behind it: half of what the store added to the paced p99 (BENCHMARKS.md, "The store's tail").
/// </summary>
/// <remarks>
/// The log's length comes from SQLite's WAL hook (called after each commit with the frames in the
/// log; SQLitePCLRaw does not expose it, so it is called in the bundled e_sqlite3 directly). Every
/// <see cref="DefaultFramesPerCheckpoint"/> new frames the thread runs a PASSIVE checkpoint, which
/// takes no lock the writer needs; so does a second of quiet. The log starts again from its
/// beginning only when a writer finds all of it copied, which a writer that never pauses never does
/// (new frames always follow the ones a concurrent checkpoint copied). So once the log holds
/// <see cref="DefaultFramesPerRestart"/> frames the writer copies what is left itself, between two
/// commits, and the log restarts: the log stays under ~16 MiB (a longer one makes every page
/// lookup slower), at the price of one short stall per that many frames.
/// </remarks>
internal sealed class WalCheckpointer : IDisposable
{
    internal const int DefaultFramesPerCheckpoint = 1_000;
    internal const int DefaultFramesPerRestart = 4_000;
    internal static readonly TimeSpan IdleDelay = TimeSpan.FromSeconds(1);

    private readonly SqliteConnection _writer;
    private readonly SqliteConnection _connection;
    private readonly int _framesPerCheckpoint;
    private readonly int _framesPerRestart;
    private readonly SemaphoreSlim _wake = new(0, 1);
    private readonly Thread _thread;
    private readonly WalHook _hook;
    private readonly GCHandle _self;
    private int _frames;
    private int _framesAtWake;
    private int _commits;
    private int _checkpoints;
    private int _restarts;
    private volatile RestartState _restart;
    private volatile bool _stopping;

    public WalCheckpointer(SqliteConnection writer, SqliteConnection connection, int framesPerCheckpoint, int framesPerRestart)
    {
        _writer = writer;
        _connection = connection;
        _framesPerCheckpoint = framesPerCheckpoint;
        _framesPerRestart = framesPerRestart;
        _hook = OnWal;
        _self = GCHandle.Alloc(this);
        sqlite3_wal_hook(writer.Handle!.DangerousGetHandle(), Marshal.GetFunctionPointerForDelegate(_hook), GCHandle.ToIntPtr(_self));
        _thread = new Thread(Run) { IsBackground = true, Name = "chat store checkpoint" };
        _thread.Start();
    }

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate int WalHook(IntPtr state, IntPtr db, IntPtr name, int frames);

    private enum RestartState
    {
        None,
        Due,
        Copied,
    }

    /// <summary>
    /// Whether the SQLite library behind SQLitePCLRaw is the bundled e_sqlite3 that the WAL hook is
    /// called in. An app that swapped the provider (a system SQLite, SQLCipher) keeps SQLite's own
    /// automatic checkpoint instead.
    /// </summary>
    public static bool Supported { get; } = raw.GetNativeLibraryName() == "e_sqlite3";

    /// <summary>Checkpoints run so far (for tests).</summary>
    internal int Checkpoints => Volatile.Read(ref _checkpoints);

    /// <summary>Times the writer restarted the log after copying what was left (for tests).</summary>
    internal int Restarts => Volatile.Read(ref _restarts);

    /// <summary>Called by the writer after each commit (on its thread, between two commits).</summary>
    public void Committed()
    {
        Interlocked.Increment(ref _commits);
        var frames = _frames;
        if (frames < _framesAtWake)
        {
            // The log started again (after a quiet moment let a checkpoint copy all of it).
            _framesAtWake = 0;
        }

        if (_restart == RestartState.Copied)
        {
            // The commit just made found the whole log copied and wrote from its start again.
            _restart = RestartState.None;
            _framesAtWake = 0;
            Interlocked.Increment(ref _restarts);
        }
        else if (_restart == RestartState.Due || frames >= _framesPerRestart)
        {
            // SQLITE_BUSY while the thread's checkpoint runs: try again after the next commit.
            _restart = Checkpoint(_writer) ? RestartState.Copied : RestartState.Due;
        }
        else if (frames - _framesAtWake >= _framesPerCheckpoint)
        {
            _framesAtWake = frames;
            Wake();
        }
    }

    /// <summary>Stops the thread after the checkpoint in progress, if any, and closes its connection.</summary>
    public void Dispose()
    {
        _stopping = true;
        Wake();
        _thread.Join();
        sqlite3_wal_hook(_writer.Handle!.DangerousGetHandle(), IntPtr.Zero, IntPtr.Zero);
        _self.Free();
        _connection.Dispose();
        _wake.Dispose();
    }

    // sqlite3_wal_hook in the e_sqlite3 library that SQLitePCLRaw bundles and has loaded already.
    [DllImport("e_sqlite3", CallingConvention = CallingConvention.Cdecl)]
    // AssemblyDirectory: the app's own folder, where a Native AOT app keeps libe_sqlite3.so (SafeDirectories
    // alone is only the system's library paths there).
    [DefaultDllImportSearchPaths(DllImportSearchPath.AssemblyDirectory | DllImportSearchPath.SafeDirectories)]
    private static extern IntPtr sqlite3_wal_hook(IntPtr db, IntPtr callback, IntPtr state);

    // On the writer's thread, inside its commit: only note the log's length.
    private static int OnWal(IntPtr state, IntPtr db, IntPtr name, int frames)
    {
        if (GCHandle.FromIntPtr(state).Target is WalCheckpointer checkpointer)
        {
            checkpointer._frames = frames;
        }

        return raw.SQLITE_OK;
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
}
