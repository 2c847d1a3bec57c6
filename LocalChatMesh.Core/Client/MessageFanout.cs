using System.Reactive.Linq;
using System.Reactive.Subjects;
using System.Runtime.CompilerServices;
using System.Threading.Channels;

namespace LocalChatMesh;

/// <summary>
/// One stream of messages offered two ways, push (<see cref="Observable"/>) and pull
/// (<see cref="ReadAsync"/>), fed by one producer (the client's reader loop). Each enumeration has a
/// bounded buffer the producer waits on, so a slow consumer slows the producer instead of growing
/// memory. With a backlog, what is published before the first consumer attaches is kept (the
/// latest <c>capacity</c> messages) and handed to that first consumer, push or pull.
/// </summary>
/// <remarks>
/// Publishing, attaching and completing take one lock, so a first subscriber that is replayed the
/// backlog on its own thread never sees a live message before or during that replay, and nothing
/// published concurrently is lost between the two. With a backlog, push observers also run inside
/// that lock, so a room ended from another thread (a leave that got no answer) never completes
/// while an observer is being called; without one they run outside it, as a plain Subject's do.
/// </remarks>
[System.Diagnostics.CodeAnalysis.SuppressMessage(
    "Design",
    "CA1001:Types that own disposable fields should be disposable",
    Justification = "The Subject holds no unmanaged resource; Complete releases its observers, and a disposed Subject would throw at late subscribers.")]
internal sealed class MessageFanout<T>
{
    private readonly Subject<T> _subject = new();
    private readonly Lock _lock = new();
    private readonly int _capacity;
    private readonly Action _attached;
    private readonly bool _serialized;
    private Queue<T>? _backlog;
    private Channel<T>[] _pullers = [];
    private bool _ended;
    private Exception? _failure;

    /// <param name="capacity">The buffer of each enumeration, and the backlog's size.</param>
    /// <param name="backlog">Keep what arrives before the first consumer.</param>
    /// <param name="attached">Called after each consumer attaches (the client starts reading then).</param>
    public MessageFanout(int capacity, bool backlog, Action attached)
    {
        _capacity = capacity;
        _attached = attached;
        _backlog = backlog ? new Queue<T>() : null;
        _serialized = backlog;
        Observable = System.Reactive.Linq.Observable.Create<T>(Subscribe);
    }

    public IObservable<T> Observable { get; }

    /// <summary>
    /// Offers a message to the push consumers, inline; returns the pull consumers to feed it to
    /// with <see cref="FeedAsync"/> (outside any lock, as feeding may wait).
    /// </summary>
    public Channel<T>[] Publish(T item)
    {
        Channel<T>[] pullers;
        lock (_lock)
        {
            if (_ended)
            {
                return [];
            }

            if (_backlog is not null)
            {
                if (_backlog.Count == _capacity)
                {
                    _backlog.Dequeue();
                }

                _backlog.Enqueue(item);
                return [];
            }

            pullers = _pullers;
            if (_serialized)
            {
                _subject.OnNext(item);
                return pullers;
            }
        }

        // Only the one producer publishes and completes, so outside the lock the order holds.
        _subject.OnNext(item);
        return pullers;
    }

    /// <summary>Gives a published message to each pull consumer, waiting while a buffer is full.</summary>
    public static async ValueTask FeedAsync(Channel<T>[] pullers, T item, CancellationToken cancellationToken)
    {
        foreach (var puller in pullers)
        {
            if (puller.Writer.TryWrite(item))
            {
                continue;
            }

            try
            {
                await puller.Writer.WriteAsync(item, cancellationToken).ConfigureAwait(false);
            }
            catch (ChannelClosedException)
            {
                // That enumeration has stopped; the others carry on.
            }
        }
    }

    /// <summary>Ends the stream: push consumers complete (or fail), enumerations end after their buffer. Idempotent.</summary>
    public void Complete(Exception? failure)
    {
        Channel<T>[] pullers;
        lock (_lock)
        {
            if (_ended)
            {
                return;
            }

            _ended = true;
            _failure = failure;
            pullers = _pullers;
            _pullers = [];
            if (_serialized)
            {
                CompleteSubject(failure);
            }
        }

        if (!_serialized)
        {
            CompleteSubject(failure);
        }

        foreach (var puller in pullers)
        {
            puller.Writer.TryComplete(failure);
        }
    }

    public async IAsyncEnumerable<T> ReadAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var buffer = Channel.CreateBounded<T>(new BoundedChannelOptions(_capacity)
        {
            FullMode = BoundedChannelFullMode.Wait,
            SingleReader = true,
        });
        lock (_lock)
        {
            if (TakeBacklog() is { } backlog)
            {
                // The backlog is never longer than the buffer, so all of it fits.
                foreach (var item in backlog)
                {
                    buffer.Writer.TryWrite(item);
                }
            }

            if (_ended)
            {
                buffer.Writer.TryComplete(_failure);
            }
            else
            {
                _pullers = [.. _pullers, buffer];
            }
        }

        _attached();
        try
        {
            await foreach (var item in buffer.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                // ReadAllAsync checks the token only when its buffer runs dry; stop promptly instead.
                cancellationToken.ThrowIfCancellationRequested();
                yield return item;
            }
        }
        finally
        {
            lock (_lock)
            {
                _pullers = Array.FindAll(_pullers, puller => puller != buffer);
            }

            // Frees the producer if it is waiting for room in this buffer.
            buffer.Writer.TryComplete();
        }
    }

    private void CompleteSubject(Exception? failure)
    {
        try
        {
            if (failure is null)
            {
                _subject.OnCompleted();
            }
            else
            {
                _subject.OnError(failure);
            }
        }
        catch (Exception)
        {
            // An observer without an error handler rethrows; the stream is over either way.
        }
    }

    private IDisposable Subscribe(IObserver<T> observer)
    {
        IDisposable subscription;
        lock (_lock)
        {
            if (TakeBacklog() is { } backlog)
            {
                foreach (var item in backlog)
                {
                    observer.OnNext(item);
                }
            }

            // A Subject that has ended tells a late subscriber at once.
            subscription = _subject.Subscribe(observer);
        }

        _attached();
        return subscription;
    }

    // Only the first consumer gets the backlog; from then on the stream is live only.
    private Queue<T>? TakeBacklog()
    {
        var backlog = _backlog;
        _backlog = null;
        return backlog;
    }
}
