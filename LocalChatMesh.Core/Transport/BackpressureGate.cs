namespace LocalChatMesh.Transport;

/// <summary>
/// Open while no client's backlog is above the soft limit. Connection readers wait on it before
/// taking the next line, so a burst that outruns a reader slows the senders through TCP instead
/// of growing queues.
/// </summary>
internal sealed class BackpressureGate
{
    private readonly object _lock = new();
    private int _pressure;
    private TaskCompletionSource? _opened;

    public bool IsOpen => Volatile.Read(ref _pressure) == 0;

    /// <summary>Completes when the gate is open.</summary>
    public Task WaitAsync(CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            if (_pressure == 0)
            {
                return Task.CompletedTask;
            }

            _opened ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            return _opened.Task.WaitAsync(cancellationToken);
        }
    }

    /// <summary>One more client is over the soft limit.</summary>
    public void Press()
    {
        lock (_lock)
        {
            _pressure++;
        }
    }

    /// <summary>One client fewer is over the soft limit.</summary>
    public void Release()
    {
        TaskCompletionSource? opened = null;
        lock (_lock)
        {
            if (--_pressure == 0)
            {
                opened = _opened;
                _opened = null;
            }
        }

        opened?.TrySetResult();
    }
}
