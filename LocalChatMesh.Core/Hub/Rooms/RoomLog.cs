namespace LocalChatMesh.Hub.Rooms;

/// <summary>
/// A room's ordered, bounded log: every event of the room in the one order all members see, at
/// increasing positions. Its chats are the room's history (ids increasing with position); presence
/// entries stay only while a member catching up still has to read them. Touched under the hub's lock.
/// </summary>
internal sealed class RoomLog
{
    private readonly List<RoomEntry?> _entries = [];
    private int _head;

    /// <summary>The position of the oldest entry held; equal to <see cref="NextPosition"/> when empty.</summary>
    public long FirstPosition { get; private set; }

    public long NextPosition => FirstPosition + Count;

    public int Count => _entries.Count - _head;

    public int ChatCount { get; private set; }

    /// <summary>Presence entries held (for members catching up).</summary>
    public int PresenceCount => Count - ChatCount;

    /// <summary>The estimated memory its entries hold, presence included.</summary>
    public long Bytes { get; private set; }

    /// <summary>The id of the newest chat ever appended, 0 when none.</summary>
    public long LastId { get; private set; }

    /// <summary>The id of the newest chat the log has let go, 0 when none: resume works only after it.</summary>
    public long LastDroppedId { get; private set; }

    public RoomEntry? Front => Count > 0 ? _entries[_head] : null;

    /// <summary>The oldest chat still held, if any.</summary>
    public ChatEntry? OldestChat
    {
        get
        {
            for (var i = _head; i < _entries.Count && ChatCount > 0; i++)
            {
                if (_entries[i] is ChatEntry chat)
                {
                    return chat;
                }
            }

            return null;
        }
    }

    public RoomEntry At(long position) => _entries[_head + (int)(position - FirstPosition)]!;

    public void Append(RoomEntry entry)
    {
        entry.Position = NextPosition;
        _entries.Add(entry);
        Bytes += entry.SizeBytes;
        if (entry is ChatEntry chat)
        {
            ChatCount++;
            LastId = chat.Id;
        }
    }

    public RoomEntry DropFront()
    {
        var entry = _entries[_head]!;
        _entries[_head] = null;
        _head++;
        FirstPosition++;
        entry.Retained = false;
        Bytes -= entry.SizeBytes;
        if (entry is ChatEntry chat)
        {
            ChatCount--;
            LastDroppedId = chat.Id;
        }

        // Compact now and then, so the list does not grow with everything ever appended.
        if (_head >= 64 && _head * 2 >= _entries.Count)
        {
            _entries.RemoveRange(0, _head);
            _head = 0;
        }

        return entry;
    }

    /// <summary>
    /// Lets go of every presence entry held, the ones between chats included, and moves the later
    /// entries up; returns the bytes freed. Positions change: only while nobody reads the log with a cursor.
    /// </summary>
    public long ForgetPresence()
    {
        var kept = new List<RoomEntry?>(ChatCount);
        long freed = 0;
        for (var i = _head; i < _entries.Count; i++)
        {
            var entry = _entries[i]!;
            if (entry is ChatEntry)
            {
                entry.Position = FirstPosition + kept.Count;
                kept.Add(entry);
                continue;
            }

            entry.Retained = false;
            freed += entry.SizeBytes;
        }

        _entries.Clear();
        _entries.AddRange(kept);
        _head = 0;
        Bytes -= freed;
        return freed;
    }

    /// <summary>Where a replay of the last <paramref name="count"/> chats starts.</summary>
    public long PositionOfLastChats(int count)
    {
        var position = NextPosition;
        for (var i = _entries.Count - 1; i >= _head && count > 0; i--)
        {
            position--;
            if (_entries[i] is ChatEntry)
            {
                count--;
            }
        }

        return position;
    }

    /// <summary>Where the first chat with an id above <paramref name="id"/> is (or the end).</summary>
    public long PositionAfterId(long id)
    {
        var position = NextPosition;
        for (var i = _entries.Count - 1; i >= _head; i--)
        {
            if (_entries[i] is ChatEntry chat && chat.Id <= id)
            {
                break;
            }

            position--;
        }

        return position;
    }
}
