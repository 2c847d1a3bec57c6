namespace LocalChatMesh.Hub.Rooms;

/// <summary>
/// One connection in one room: a cursor into the room's log. While it replays history (or has
/// fallen behind), <see cref="Cursor"/> is its next position and the hub pumps entries as the
/// connection's queue has room; once at the end its connection subscribes to the room's live
/// Subject for its wire variant and receives each new entry's frame as it is appended.
/// </summary>
internal sealed class Membership(ConnectionState connection, Room room)
{
    private IDisposable? _subscription;

    public ConnectionState Connection { get; } = connection;

    public Room Room { get; } = room;

    /// <summary>
    /// In a cluster, a join waiting for its presence event to come back in the cluster's order: the
    /// client may already chat in the room (its chats are appended after the join), but it reads
    /// nothing until then. Null once started (and always on a broker of its own).
    /// </summary>
    public PendingJoin? Pending { get; set; }

    /// <summary>In a cluster, when this member's presence was last appended (see ChatHub.RefreshClusterPresence).</summary>
    public DateTimeOffset AnnouncedAt { get; set; }

    /// <summary>The next position to read, while catching up; null while live.</summary>
    public long? Cursor { get; private set; }

    /// <summary>Entries before this position were there before the join: only chats are replayed from them, as history.</summary>
    public long JoinPosition { get; private set; }

    /// <summary>Replay only chats with an id above this one (0: all from the cursor).</summary>
    public long ReplayAfterId { get; private set; }

    /// <summary>Starts reading at <paramref name="from"/> (the log's end for no replay).</summary>
    public void Start(long from, long replayAfterId)
    {
        JoinPosition = Room.Log.NextPosition;
        ReplayAfterId = replayAfterId;
        if (from >= JoinPosition)
        {
            GoLive();
            return;
        }

        Cursor = from;
        Room.CatchingUp++;
        Connection.CatchingUp++;
    }

    /// <summary>
    /// Delivers log entries from the cursor while they fit under <paramref name="softLimitBytes"/> of
    /// backlog (so catching up never trips the slow-consumer rules); goes live at the end.
    /// Returns the frames queued.
    /// </summary>
    public int Pump(long softLimitBytes)
    {
        if (Cursor is not { } cursor)
        {
            return 0;
        }

        var log = Room.Log;
        var queued = 0;
        while (cursor < log.NextPosition)
        {
            if (cursor < log.FirstPosition)
            {
                // Trimmed before this member got there: a gap, reported like any lag.
                Connection.CountMissed(log.FirstPosition - cursor);
                cursor = log.FirstPosition;
                continue;
            }

            byte[]? frame = null;
            if (cursor >= JoinPosition)
            {
                frame = log.Frame(cursor, Connection.Form);
            }
            else if (log.ChatIdAt(cursor) > ReplayAfterId)
            {
                // Presence (id 0) before the join is not history.
                frame = log.Frame(cursor, WireForm.History);
            }

            var buffered = Connection.Outbound.BufferedBytes;
            if (frame is not null && buffered > 0 && buffered + frame.Length > softLimitBytes)
            {
                break;
            }

            cursor++;
            if (frame is not null)
            {
                queued += Connection.Deliver(frame) ? 1 : 0;
            }
        }

        Cursor = cursor;
        if (cursor >= log.NextPosition)
        {
            Room.CatchingUp--;
            Connection.CatchingUp--;
            GoLive();
        }

        return queued;
    }

    public void End()
    {
        _subscription?.Dispose();
        _subscription = null;
        if (Cursor is not null)
        {
            Cursor = null;
            Room.CatchingUp--;
            Connection.CatchingUp--;
        }
    }

    private void GoLive()
    {
        Cursor = null;
        _subscription = Room.Live.Subscribe(Connection.Form, Connection);
    }
}

/// <summary>What a join asked for, kept until the cluster has ordered it.</summary>
/// <param name="Join">The join message (null for a version 1 client entering the lobby at its welcome).</param>
internal sealed record PendingJoin(Protocol.JoinMessage? Join);
