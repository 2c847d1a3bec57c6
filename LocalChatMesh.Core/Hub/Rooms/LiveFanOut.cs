namespace LocalChatMesh.Hub.Rooms;

/// <summary>
/// A room's broadcast: a <see cref="BroadcastSubject{T}"/> of encoded frames per
/// <see cref="WireForm"/>, to which each live member's connection is subscribed. Publishing an entry
/// encodes it once per variant that has subscribers; each recipient then gets the shared bytes with
/// no per-recipient work beyond its own queue (the same path as before rooms existed).
/// </summary>
internal sealed class LiveFanOut : IDisposable
{
    private const int Forms = (int)WireForm.RoomsMeta + 1;
    private readonly BroadcastSubject<byte[]>?[] _byForm = new BroadcastSubject<byte[]>?[Forms];

    /// <summary>Live subscribers in all variants.</summary>
    public int Count { get; private set; }

    public IDisposable Subscribe(WireForm form, IObserver<byte[]> observer)
    {
        var subject = _byForm[(int)form] ??= new BroadcastSubject<byte[]>();
        var subscription = subject.Subscribe(observer);
        Count++;
        return new Subscription(this, subscription);
    }

    // Generic rather than over the interface, so a chat's LoggedEntry is not boxed.
    public void Publish<TFrames>(TFrames entry)
        where TFrames : IRoomFrames
    {
        for (var form = 0; form < Forms; form++)
        {
            if (_byForm[form] is { HasObservers: true } subject)
            {
                subject.OnNext(entry.Frame((WireForm)form));
            }
        }
    }

    public void Dispose()
    {
        foreach (var subject in _byForm)
        {
            subject?.Dispose();
        }
    }

    private sealed class Subscription(LiveFanOut owner, IDisposable inner) : IDisposable
    {
        private IDisposable? _inner = inner;

        public void Dispose()
        {
            // Under the hub's lock, like every call on the fan-out.
            if (_inner is { } subscription)
            {
                _inner = null;
                subscription.Dispose();
                owner.Count--;
            }
        }
    }
}
