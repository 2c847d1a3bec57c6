using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace LocalChatMesh.Transport;

/// <summary>
/// Runs the socket writes of many connections in one thread-pool work item at a time, the way
/// Kestrel's IOQueue does. A broadcast to N clients wakes one thread instead of N writer loops,
/// and while it writes to one socket the frames for the others keep piling up and go out in one
/// write each. Thread hand-offs, not the sends themselves, were the main cost of fan-out.
/// </summary>
/// <remarks>
/// <para>
/// With socket completions inline (what <c>chatmesh broker</c> runs: the runtime's event thread
/// reads, decodes and runs the hub for every chat), a scheduler made with
/// <c>writeAfterEngineBatch</c> lets that thread make the writes too, once it has handled every
/// socket its <c>epoll_wait</c> returned, as a C event loop (or Redis, before it sleeps) does:
/// no pool thread is woken for them, and each write carries everything the batch queued for its
/// connection. The runtime has no hook for the end of its batch, so the scheduler keeps a
/// loopback pair of its own: a reader's flushes wait (<see cref="Defer"/>), the first writes one
/// byte to the pair, and the engine reports the pair ready with, or right after, the batch it is
/// handling; its completion, inline on the event thread, runs the writes. Flushes scheduled by
/// anyone else (a timer, the end of an asynchronous send) go to the pool as before.
/// </para>
/// <para>
/// Writing after each reader's receive instead, without waiting for the batch, gave every
/// recipient a write per receive and cost paced traffic three times the CPU (BENCHMARKS.md,
/// "The practical limit on this box").
/// </para>
/// </remarks>
internal sealed class SendScheduler : IThreadPoolWorkItem, IDisposable
{
    /// <summary>Frames queued for one connection are copied into this much space per write.</summary>
    public const int BufferSize = 64 * 1024;

    private static readonly byte[] Wake = [1];

    // True while this thread handles a receive's lines (see Defer).
    [ThreadStatic]
    private static bool t_deferring;

    private readonly ConcurrentQueue<OutboundQueue> _ready = new();
    private byte[]? _buffer;
    private int _running;

    // The loopback pair (writeAfterEngineBatch only): the trigger's sending end, null once closed,
    // and whether a byte is on its way (one wakes the writes for everything deferred meanwhile).
    private Socket? _trigger;
    private int _armed;

    public SendScheduler()
        : this(writeAfterEngineBatch: false)
    {
    }

    /// <param name="writeAfterEngineBatch">
    /// Writes deferred by readers are made on the socket engine's thread after its batch (see the
    /// remarks). Only worth it with inline completions: otherwise the pair's completion runs on
    /// the pool, as the writes would anyway.
    /// </param>
    public SendScheduler(bool writeAfterEngineBatch)
    {
        if (!writeAfterEngineBatch)
        {
            return;
        }

        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        var trigger = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            trigger.Connect(listener.LocalEndPoint!);
            var woken = listener.Accept();
            trigger.Blocking = false;
            _trigger = trigger;
            _ = WakeLoopAsync(woken);
        }
        catch
        {
            trigger.Dispose();
            throw;
        }
    }

    /// <summary>True when the process runs socket completions inline (the runtime reads the same variable).</summary>
    public static bool CompletionsInline => Environment.GetEnvironmentVariable("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS") == "1";

    /// <summary>
    /// From true until false, flushes scheduled on this thread wait for the end of the engine's
    /// batch where the scheduler writes after it. A reader sets it around a receive's lines and
    /// clears it before anything that may wait (an await may resume on another thread).
    /// </summary>
    public static void Defer(bool deferring) => t_deferring = deferring;

    /// <summary>Queues a connection whose frames are waiting. The caller owns its flush (see <see cref="OutboundQueue"/>).</summary>
    public void Schedule(OutboundQueue queue)
    {
        _ready.Enqueue(queue);
        if (t_deferring && Volatile.Read(ref _trigger) is { } trigger && Arm(trigger))
        {
            return;
        }

        if (Interlocked.Exchange(ref _running, 1) == 0)
        {
            ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
        }
    }

    /// <summary>Closes the loopback pair; from then on every flush goes to the pool.</summary>
    public void Dispose() => Interlocked.Exchange(ref _trigger, null)?.Dispose();

    // True when the writes will be made after the batch: a byte was already on its way (armed
    // before the queue went in, so the wake-up sees it), or this one is. False when the pair is
    // gone, and the caller schedules on the pool.
    private bool Arm(Socket trigger)
    {
        if (Volatile.Read(ref _armed) == 1 || Interlocked.Exchange(ref _armed, 1) == 1)
        {
            return true;
        }

        try
        {
            if (trigger.Send(Wake, SocketFlags.None, out var error) == 1 && error == SocketError.Success)
            {
                return true;
            }
        }
        catch (ObjectDisposedException)
        {
        }

        Volatile.Write(ref _armed, 0);
        return false;
    }

    // The pair's receiving end: each byte (or several) runs the writes, inline on the engine's
    // thread. Disarmed first (a full fence), so a flush deferred from here on arms it again.
    private async Task WakeLoopAsync(Socket woken)
    {
        var bytes = new byte[64];
        using (woken)
        {
            while (true)
            {
                int read;
                try
                {
                    read = await woken.ReceiveAsync(bytes, SocketFlags.None).ConfigureAwait(false);
                }
                catch (Exception exception) when (exception is SocketException or ObjectDisposedException)
                {
                    read = 0;
                }

                if (read == 0)
                {
                    // Closed (Dispose) or failed: from now on flushes go to the pool, and what was
                    // deferred until now is written below.
                    Dispose();
                }

                Interlocked.Exchange(ref _armed, 0);
                if (Interlocked.Exchange(ref _running, 1) == 0)
                {
                    Execute();
                }

                if (read == 0)
                {
                    return;
                }
            }
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
