using System.Text;
using LocalChatMesh.Diagnostics;
using LocalChatMesh.Hub.Rooms;
using LocalChatMesh.Storage;

namespace LocalChatMesh.Hub;

/// <summary>
/// History in a durable store: a chat is committed before anybody receives it. Chats accepted
/// while a batch is being committed wait in the next batch (group commit: one transaction per
/// round trip to the disk, off the hub's serialized step), and each batch is fanned out, in
/// order, once it is committed. A slow disk holds the senders back through the same gate as a
/// slow reader; a batch the store refuses (disk full) is told to its senders and reaches nobody.
/// </summary>
internal sealed partial class ChatHub
{
    /// <summary>Chats waiting for the next commit beyond which readers pause (TCP backpressure on the senders).</summary>
    internal const int MaxPendingChats = 10_000;

    // Chats accepted since the last commit began, and who sent each (same index): the list goes to
    // the store as it is.
    private List<StoredChat> _pending = [];
    private List<ConnectionState> _senders = [];
    private Task _committing = Task.CompletedTask;
    private bool _commitRunning;
    private bool _storePressing;

    /// <summary>Raised (under the hub's lock) when the store falls behind (true) and catches up (false).</summary>
    public event Action<bool>? StorePressure;

    /// <summary>Completes when every chat accepted so far has been committed (or refused) and fanned out.</summary>
    public Task WhenStoredAsync()
    {
        lock (_gate)
        {
            return _committing;
        }
    }

    /// <summary>Loads what a store kept: its epoch, the id sequence and each room's retained history.</summary>
    public void Restore(ChatStoreSnapshot snapshot)
    {
        lock (_gate)
        {
            _epoch = snapshot.Epoch;
            _lastId = Math.Max(_lastId, snapshot.LastId);
            foreach (var stored in snapshot.Messages)
            {
                // History outlives the room limits it was written under; the limits apply again below.
                if (!_rooms.TryGetValue(stored.Room, out var room))
                {
                    room = new Room(stored.Room);
                    _rooms.Add(stored.Room, room);
                }

                Retain(room, stored.Id, stored.Time, stored.Nickname, Encoding.UTF8.GetBytes(stored.Text));
                Trim(room);
            }

            TrimHistory(_scheduler.Now);
            foreach (var room in _rooms.Values.ToList())
            {
                RemoveIfGone(room);
            }
        }
    }

    // Under the lock: the chat has its id and time; it reaches the room once it is committed.
    private void Store(ConnectionState sender, Room room, long id, string text)
    {
        _pending.Add(new StoredChat(id, room.Name, _scheduler.Now, sender.Nickname!, text));
        _senders.Add(sender);
        if (_pending.Count > MaxPendingChats && !_storePressing)
        {
            _storePressing = true;
            StorePressure?.Invoke(true);
        }

        if (!_commitRunning)
        {
            _committing = CommitAsync();
        }
    }

    private async Task CommitAsync()
    {
        _commitRunning = true;
        while (true)
        {
            List<StoredChat> batch;
            List<ConnectionState> senders;
            lock (_gate)
            {
                if (_pending.Count == 0)
                {
                    _commitRunning = false;
                    if (_storePressing)
                    {
                        _storePressing = false;
                        StorePressure?.Invoke(false);
                    }

                    return;
                }

                batch = _pending;
                senders = _senders;
                _pending = [];
                _senders = [];
            }

            string? failure = null;
            try
            {
                await _options.Store!.AppendAsync(batch).ConfigureAwait(false);
            }
            catch (Exception exception) when (exception is not OutOfMemoryException)
            {
                failure = exception is ChatStoreException ? exception.Message : $"the store failed: {exception.Message}";
                Log.StoreFailed(_logger, exception, batch.Count);
            }

            lock (_gate)
            {
                for (var i = 0; i < batch.Count; i++)
                {
                    if (failure is null)
                    {
                        Deliver(senders[i], batch[i]);
                    }
                    else if (senders[i].Phase == ConnectionPhase.Joined)
                    {
                        SendError(senders[i], $"message not delivered: the broker could not store it ({failure})");
                    }
                }
            }
        }
    }

    private void Deliver(ConnectionState sender, StoredChat chat)
    {
        // The room may have gone (everybody left) while the chat was being committed: it exists again now.
        var room = GetOrCreateRoom(chat.Room) ?? new Room(chat.Room);
        Append(room, chat.Id, chat.Time, chat.Nickname, Encoding.UTF8.GetBytes(chat.Text));
        if (_events.HasObservers)
        {
            Publish(new ChatEvent(sender.Id, chat.Nickname, chat.Text) { Room = room.Name, Id = chat.Id });
        }
    }
}
