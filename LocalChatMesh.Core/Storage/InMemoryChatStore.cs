using LocalChatMesh.Hub;

namespace LocalChatMesh.Storage;

/// <summary>
/// A store that keeps history in memory only: what a broker without a file uses. Each instance has
/// a new random epoch, so history lost with the process is reported as lost. It honours retention
/// like a durable store and may be used from several threads.
/// </summary>
public sealed class InMemoryChatStore : IChatStore
{
    private readonly Lock _lock = new();
    private readonly TimeProvider _timeProvider;
    private readonly Dictionary<string, Queue<StoredChat>> _rooms = new(StringComparer.OrdinalIgnoreCase);
    private ChatStoreRetention? _retention;
    private long _lastId;
    private bool _disposed;

    /// <summary>Creates an empty store with a new epoch.</summary>
    /// <param name="timeProvider">The clock for age retention; <see cref="TimeProvider.System"/> when null.</param>
    public InMemoryChatStore(TimeProvider? timeProvider = null)
    {
        _timeProvider = timeProvider ?? TimeProvider.System;
        Epoch = NewEpoch();
    }

    /// <summary>This instance's epoch: 128 random bits as 32 lowercase hex digits.</summary>
    public string Epoch { get; }

    /// <inheritdoc />
    public Task<ChatStoreSnapshot> OpenAsync(ChatStoreRetention retention, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(retention);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_retention is not null)
            {
                throw new InvalidOperationException("The store is open already.");
            }

            _retention = retention;
            return Task.FromResult(new ChatStoreSnapshot(Epoch, _lastId, []));
        }
    }

    /// <inheritdoc />
    public Task AppendAsync(IReadOnlyList<StoredChat> batch, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(batch);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var retention = _retention ?? throw new InvalidOperationException("The store is not open: call OpenAsync first.");
            StoredChatBatch.EnsureIncreasingIds(batch, _lastId);
            foreach (var chat in batch)
            {
                if (!_rooms.TryGetValue(chat.Room, out var room))
                {
                    room = new Queue<StoredChat>();
                    _rooms.Add(chat.Room, room);
                }

                room.Enqueue(chat);
                if (room.Count > retention.MaxMessagesPerRoom)
                {
                    room.Dequeue();
                }
            }

            if (batch.Count > 0)
            {
                _lastId = batch[^1].Id;
            }

            TrimByAge(retention);
            return Task.CompletedTask;
        }
    }

    /// <summary>
    /// The retained messages of every room, oldest first (ordered by id), trimmed by age as of now.
    /// </summary>
    /// <returns>A copy; later appends do not change it.</returns>
    public IReadOnlyList<StoredChat> GetMessages()
    {
        lock (_lock)
        {
            if (_retention is { } retention)
            {
                TrimByAge(retention);
            }

            var all = new List<StoredChat>();
            foreach (var room in _rooms.Values)
            {
                all.AddRange(room);
            }

            all.Sort(static (a, b) => a.Id.CompareTo(b.Id));
            return all;
        }
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync()
    {
        lock (_lock)
        {
            _disposed = true;
            _rooms.Clear();
        }

        return ValueTask.CompletedTask;
    }


    /// <summary>A new epoch: 128 random bits as 32 lowercase hex digits (OsRandom: no OpenSSL at start).</summary>
    internal static string NewEpoch() => Convert.ToHexStringLower(OsRandom.GetBytes(16));

    private void TrimByAge(ChatStoreRetention retention)
    {
        var oldestKept = retention.OldestKept(_timeProvider.GetUtcNow());
        if (oldestKept == DateTimeOffset.MinValue)
        {
            return;
        }

        List<string>? empty = null;
        foreach (var (name, room) in _rooms)
        {
            // The broker stamps times in id order, so the oldest messages of a room are at its head.
            while (room.TryPeek(out var head) && head.Time < oldestKept)
            {
                room.Dequeue();
            }

            if (room.Count == 0)
            {
                (empty ??= []).Add(name);
            }
        }

        foreach (var name in empty ?? [])
        {
            _rooms.Remove(name);
        }
    }
}
