namespace LocalChatMesh.Cli.Bench;

/// <summary>What the receive loops report to the run: everyone joined, everyone has everything.</summary>
internal sealed class BenchProgress(BenchOptions options)
{
    private readonly TaskCompletionSource _allJoined = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _allDelivered = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _joined;
    private int _done;

    public int Clients { get; } = options.Clients;

    public int Senders { get; } = options.Senders;

    public int Messages { get; } = options.Messages;

    /// <summary>How many others each receiving client must see in its roster and joins.</summary>
    public int ExpectedOthers { get; } = options.Clients - 1 + (options.SilentClient ? 1 : 0);

    public long ExpectedPerClient { get; } = (long)options.Senders * options.Messages;

    public int Joined => Volatile.Read(ref _joined);

    /// <summary>Completes when every receiving client has its welcome and has seen all the others.</summary>
    public Task AllJoined => _allJoined.Task;

    /// <summary>Completes when every receiving client has every message once.</summary>
    public Task AllDelivered => _allDelivered.Task;

    public void ClientJoined()
    {
        if (Interlocked.Increment(ref _joined) == Clients)
        {
            _allJoined.TrySetResult();
        }
    }

    public void ClientDone()
    {
        if (Interlocked.Increment(ref _done) == Clients)
        {
            _allDelivered.TrySetResult();
        }
    }
}
