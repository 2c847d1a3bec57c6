using System.Reactive.Subjects;

namespace LocalChatMesh.Hub;

/// <summary>
/// The hub's broadcast Subject. Rx's <see cref="Subject{T}"/> copies its observer array on every
/// subscribe and unsubscribe so that it can be used from any thread; with one subscriber per
/// joined client that makes a join storm of N clients allocate O(N²). The hub calls every member
/// under its own lock, so this one keeps a plain list: subscribe and unsubscribe are O(1)
/// (an unsubscribed slot is filled by the last observer) and OnNext walks the list.
/// Not thread-safe: callers serialize all calls.
/// </summary>
internal sealed class BroadcastSubject<T> : SubjectBase<T>
{
    private readonly List<Subscription> _subscriptions = [];
    private bool _stopped;
    private bool _disposed;

    public override bool HasObservers => _subscriptions.Count > 0;

    public override bool IsDisposed => _disposed;

    public int Count => _subscriptions.Count;

    public override void OnNext(T value)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_stopped)
        {
            return;
        }

        // Walking from the end lets an observer unsubscribe itself during OnNext: the last
        // observer, already visited, takes its slot. (The hub's observers never unsubscribe
        // anyone else from inside OnNext.)
        for (var i = _subscriptions.Count - 1; i >= 0; i--)
        {
            if (i < _subscriptions.Count)
            {
                _subscriptions[i].Observer.OnNext(value);
            }
        }
    }

    public override void OnError(Exception error)
    {
        ArgumentNullException.ThrowIfNull(error);
        foreach (var subscription in Stop())
        {
            subscription.Observer.OnError(error);
        }
    }

    public override void OnCompleted()
    {
        foreach (var subscription in Stop())
        {
            subscription.Observer.OnCompleted();
        }
    }

    public override IDisposable Subscribe(IObserver<T> observer)
    {
        ArgumentNullException.ThrowIfNull(observer);
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_stopped)
        {
            observer.OnCompleted();
            return System.Reactive.Disposables.Disposable.Empty;
        }

        var subscription = new Subscription(this, observer, _subscriptions.Count);
        _subscriptions.Add(subscription);
        return subscription;
    }

    public override void Dispose()
    {
        _disposed = true;
        _subscriptions.Clear();
    }

    private Subscription[] Stop()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_stopped)
        {
            return [];
        }

        _stopped = true;
        var subscriptions = _subscriptions.ToArray();
        _subscriptions.Clear();
        return subscriptions;
    }

    private void Remove(Subscription subscription)
    {
        var index = subscription.Index;
        if (index < 0 || index >= _subscriptions.Count || _subscriptions[index] != subscription)
        {
            return;
        }

        var last = _subscriptions[^1];
        _subscriptions[index] = last;
        last.Index = index;
        _subscriptions.RemoveAt(_subscriptions.Count - 1);
        subscription.Index = -1;
    }

    private sealed class Subscription(BroadcastSubject<T> subject, IObserver<T> observer, int index) : IDisposable
    {
        public IObserver<T> Observer { get; } = observer;

        public int Index { get; set; } = index;

        public void Dispose() => subject.Remove(this);
    }
}
