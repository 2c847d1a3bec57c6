namespace LocalChatMesh.Storage.Sqlite.Internal;

/// <summary>
/// The id and time of every message the store keeps, per room, oldest first. Retention is worked
/// out here instead of by queries, so the table needs no index besides its id and an append that
/// trims a room deletes single rows by id. It costs 16 bytes per kept message, next to the whole
/// messages that the broker keeps in memory anyway.
/// </summary>
/// <remarks>
/// An append is planned first (<see cref="Plan"/>: which ids to delete) and applied to these
/// queues only once its transaction has committed (<see cref="Commit"/>), so a failed append
/// leaves them as the file is. Rooms compare ignoring case, like the room column (NOCASE).
/// </remarks>
internal sealed class RetainedMessages
{
    private readonly Dictionary<string, Queue<Entry>> _rooms = new(StringComparer.OrdinalIgnoreCase);
    private readonly Dictionary<string, RoomChange> _changes = new(StringComparer.OrdinalIgnoreCase);
    private readonly List<long> _deletes = [];

    /// <summary>How many messages are kept, all rooms together.</summary>
    public int Count { get; private set; }

    /// <summary>
    /// Fills the queues from the messages read at open (in id order) and returns the ids that
    /// <paramref name="retention"/> drops: every message older than <paramref name="oldestKept"/>
    /// (Unix ms), then the oldest of each room beyond its limit.
    /// </summary>
    public HashSet<long> Load(IEnumerable<StoredChat> messages, ChatStoreRetention retention, long? oldestKept)
    {
        _rooms.Clear();
        Count = 0;
        var dropped = new HashSet<long>();
        foreach (var message in messages)
        {
            var time = message.Time.ToUnixTimeMilliseconds();
            if (time < oldestKept)
            {
                dropped.Add(message.Id);
                continue;
            }

            var room = Room(message.Room);
            room.Enqueue(new Entry(message.Id, time));
            Count++;
            if (room.Count > retention.MaxMessagesPerRoom)
            {
                dropped.Add(room.Dequeue().Id);
                Count--;
            }
        }

        return dropped;
    }

    /// <summary>
    /// Works out what appending <paramref name="batch"/> drops, changing nothing yet: per room the
    /// oldest beyond the limit (messages of this batch included), and when <paramref name="oldestKept"/>
    /// is given, the messages of every room older than it (Unix ms).
    /// </summary>
    /// <returns>The ids to delete once the batch is inserted; valid until the next call.</returns>
    public List<long> Plan(IReadOnlyList<StoredChat> batch, int maxPerRoom, long? oldestKept)
    {
        _changes.Clear();
        _deletes.Clear();
        foreach (var chat in batch)
        {
            Change(chat.Room).Added.Add(new Entry(chat.Id, chat.Time.ToUnixTimeMilliseconds()));
        }

        if (oldestKept is { } cutoff)
        {
            foreach (var (name, room) in _rooms)
            {
                // The broker stamps times in id order, so a room's oldest messages are at its head.
                var old = 0;
                foreach (var entry in room)
                {
                    if (entry.Time >= cutoff)
                    {
                        break;
                    }

                    old++;
                }

                if (old > 0)
                {
                    Change(name).Drop = old;
                }
            }
        }

        foreach (var (name, change) in _changes)
        {
            var room = _rooms.GetValueOrDefault(name);
            var kept = (room?.Count ?? 0) - change.Drop + change.Added.Count;
            change.Drop += Math.Max(0, kept - maxPerRoom);
            var drop = change.Drop;
            if (room is not null)
            {
                foreach (var entry in room)
                {
                    if (drop == 0)
                    {
                        break;
                    }

                    _deletes.Add(entry.Id);
                    drop--;
                }
            }

            for (var i = 0; i < drop; i++)
            {
                _deletes.Add(change.Added[i].Id);
            }
        }

        return _deletes;
    }

    /// <summary>Applies the last <see cref="Plan"/>, once its transaction has committed.</summary>
    public void Commit()
    {
        foreach (var (name, change) in _changes)
        {
            var room = Room(name);
            foreach (var entry in change.Added)
            {
                room.Enqueue(entry);
            }

            for (var i = 0; i < change.Drop; i++)
            {
                room.Dequeue();
            }

            Count += change.Added.Count - change.Drop;
            if (room.Count == 0)
            {
                _rooms.Remove(name);
            }
        }

        _changes.Clear();
    }

    private Queue<Entry> Room(string name)
    {
        if (!_rooms.TryGetValue(name, out var room))
        {
            room = new Queue<Entry>();
            _rooms.Add(name, room);
        }

        return room;
    }

    private RoomChange Change(string name)
    {
        if (!_changes.TryGetValue(name, out var change))
        {
            change = new RoomChange();
            _changes.Add(name, change);
        }

        return change;
    }

    private readonly record struct Entry(long Id, long Time);

    private sealed class RoomChange
    {
        public List<Entry> Added { get; } = [];

        public int Drop { get; set; }
    }
}
