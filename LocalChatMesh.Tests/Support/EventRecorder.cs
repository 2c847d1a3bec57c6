namespace LocalChatMesh.Tests.Support;

/// <summary>
/// Records a broker's <see cref="ChatBroker.Events"/> in the order the broker published them (its
/// serialized order) and lets a test wait for one with a deadline instead of sleeping.
/// </summary>
internal sealed class EventRecorder : IDisposable
{
    private readonly object _lock = new();
    private readonly List<BrokerEvent> _events = [];
    private readonly IDisposable _subscription;
    private TaskCompletionSource _changed = NewSignal();

    /// <summary>Records every event, or only those that <paramref name="filter"/> keeps (chat texts can be large).</summary>
    public EventRecorder(ChatBroker broker, Func<BrokerEvent, bool>? filter = null)
    {
        _subscription = broker.Events.Subscribe(e =>
        {
            if (filter is null || filter(e))
            {
                OnEvent(e);
            }
        });
    }

    public IReadOnlyList<BrokerEvent> Snapshot()
    {
        lock (_lock)
        {
            return [.. _events];
        }
    }

    /// <summary>Waits for the first recorded event of type <typeparamref name="T"/> that matches.</summary>
    public async Task<T> WaitForAsync<T>(Func<T, bool>? predicate = null, TimeSpan? deadline = null)
        where T : BrokerEvent
    {
        var all = await WaitForCountAsync(1, predicate, deadline);
        return all[0];
    }

    /// <summary>Waits until at least <paramref name="count"/> matching events were recorded; returns all that match.</summary>
    public async Task<IReadOnlyList<T>> WaitForCountAsync<T>(int count, Func<T, bool>? predicate = null, TimeSpan? deadline = null)
        where T : BrokerEvent
    {
        using var timeout = new CancellationTokenSource(deadline ?? RawClient.Deadline);
        while (true)
        {
            Task changed;
            List<T> found;
            lock (_lock)
            {
                found = [.. _events.OfType<T>().Where(e => predicate is null || predicate(e))];
                changed = _changed.Task;
            }

            if (found.Count >= count)
            {
                return found;
            }

            try
            {
                await changed.WaitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"only {found.Count} of {count} {typeof(T).Name} events arrived; the last events: {string.Join(", ", Snapshot().TakeLast(20))}");
            }
        }
    }

    public void Dispose() => _subscription.Dispose();

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    // Runs on the broker's serialized step: only record and signal.
    private void OnEvent(BrokerEvent brokerEvent)
    {
        TaskCompletionSource changed;
        lock (_lock)
        {
            _events.Add(brokerEvent);
            changed = _changed;
            _changed = NewSignal();
        }

        changed.TrySetResult();
    }
}
