using LocalChatMesh.Protocol;

namespace LocalChatMesh.Tests.Support;

/// <summary>Records what a room delivers (its chats and resumes) and waits for a condition on them.</summary>
internal sealed class RoomRecorder
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    private readonly List<ChatBroadcastMessage> _items = [];
    private readonly List<ChatRoomResume> _resumes = [];
    private readonly Lock _lock = new();
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public RoomRecorder(ChatRoom room)
    {
        Room = room;
        room.Messages.Subscribe(Add);
        room.Resumes.Subscribe(resume =>
        {
            lock (_lock)
            {
                _resumes.Add(resume);
            }
        });
    }

    public ChatRoom Room { get; }

    public IReadOnlyList<ChatBroadcastMessage> Items
    {
        get
        {
            lock (_lock)
            {
                return [.. _items];
            }
        }
    }

    public IReadOnlyList<ChatRoomResume> Resumes
    {
        get
        {
            lock (_lock)
            {
                return [.. _resumes];
            }
        }
    }

    public async Task WaitForAsync(Func<IReadOnlyList<ChatBroadcastMessage>, bool> done, string description)
    {
        using var timeout = new CancellationTokenSource(Deadline);
        while (true)
        {
            Task changed;
            lock (_lock)
            {
                if (done(_items))
                {
                    return;
                }

                changed = _changed.Task;
            }

            try
            {
                await changed.WaitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                throw new AssertionException($"{Room.Name}: no {description} within {Deadline.TotalSeconds} s; saw {Items.Count}: {string.Join(" | ", Items.Select(m => m.Text))}");
            }
        }
    }

    private void Add(ChatBroadcastMessage message)
    {
        lock (_lock)
        {
            _items.Add(message);
            _changed.TrySetResult();
            _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        }
    }
}
