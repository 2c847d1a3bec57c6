using System.Collections.Concurrent;

namespace LocalChatMesh.Transport;

/// <summary>
/// Runs the socket writes of many connections in one thread-pool work item at a time, the way
/// Kestrel's IOQueue does. A broadcast to N clients wakes one thread instead of N writer loops,
/// and while it writes to one socket the frames for the others keep piling up and go out in one
/// write each. Thread hand-offs, not the sends themselves, were the main cost of fan-out.
/// </summary>
internal sealed class SendScheduler : IThreadPoolWorkItem
{
    /// <summary>Frames queued for one connection are copied into this much space per write.</summary>
    public const int BufferSize = 64 * 1024;

    private readonly ConcurrentQueue<OutboundQueue> _ready = new();
    private byte[]? _buffer;
    private int _running;

    /// <summary>Queues a connection whose frames are waiting. The caller owns its flush (see <see cref="OutboundQueue"/>).</summary>
    public void Schedule(OutboundQueue queue)
    {
        _ready.Enqueue(queue);
        if (Interlocked.Exchange(ref _running, 1) == 0)
        {
            ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
        }
    }

    public void Execute()
    {
        // Execute never runs twice at once, so the coalescing buffer is this run's alone; one per
        // scheduler, a handful per broker, instead of one per busy connection.
        _buffer ??= GC.AllocateUninitializedArray<byte>(BufferSize);
        while (true)
        {
            while (_ready.TryDequeue(out var queue))
            {
                try
                {
                    queue.Flush(_buffer);
                }
                catch (Exception exception) when (exception is not OutOfMemoryException)
                {
                    // A fault in one connection's write must not end the others' (nor the
                    // process, as an exception escaping a pool work item would).
                    queue.Fail();
                }
            }

            // A Schedule that enqueued after the last TryDequeue may have seen _running == 1 and
            // not queued this work item: look again after clearing the flag (a full fence).
            Interlocked.Exchange(ref _running, 0);
            if (_ready.IsEmpty || Interlocked.Exchange(ref _running, 1) == 1)
            {
                return;
            }
        }
    }
}
