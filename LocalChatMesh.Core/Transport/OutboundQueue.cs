using System.Buffers;
using System.Net.Security;
using System.Net.Sockets;
using LocalChatMesh.Diagnostics;
using LocalChatMesh.Hub;

namespace LocalChatMesh.Transport;

/// <summary>
/// A connection's outbound frames and the code that writes them to its socket. The hub enqueues
/// without blocking; the first frame into an idle queue hands the queue to a
/// <see cref="SendScheduler"/>, which coalesces everything queued into one non-blocking write.
/// When the socket is full, the rest goes out asynchronously and the queue goes back to the
/// scheduler once it is written. The byte count drives backpressure (soft limit, through the
/// <see cref="BackpressureGate"/>) and the hub's slow-consumer rules (hard limit, progress).
/// </summary>
/// <remarks>
/// <para>
/// The frames wait in a single-producer, single-consumer queue of segments, without a lock: a
/// lock taken for every frame by the hub and for every write by the flush moved its cache line
/// between the two threads, ~6-8 % of a fan-out broker's CPU (BENCHMARKS.md, "Fewer locks, faster
/// times"). The producer is the hub: every <see cref="Enqueue"/>, <see cref="Close"/> and
/// <see cref="ReleaseIdleMemory"/> is made under its lock, so one at a time. The consumer is
/// whoever owns the flush (<see cref="_flushOwned"/>): the scheduler, or the write that finishes a
/// chunk the socket did not take at once. The producer publishes a frame by its count, then looks
/// whether a flush is owned; the consumer gives the flush up, then looks whether a frame came: with
/// a full fence between each write and read, one of them always sees the other (see
/// <see cref="ReleaseFlush"/>). The lock is left for what is rare: ending and backpressure.
/// </para>
/// <para>
/// With TLS the frames go through the connection's <see cref="Stream"/> instead (see
/// <see cref="WriteTlsAsync"/>): the same queue and ownership, but each write is asynchronous.
/// The plain socket path is untouched by it but for one null test per flush.
/// </para>
/// </remarks>
internal sealed class OutboundQueue : IOutboundSink
{
    private const int InitialFrames = 4;

    // Segments grow to this many slots; a backlog longer than that is a chain of them.
    private const int MaxSegmentFrames = 64;

    private readonly Socket _socket;
    private readonly Stream? _tls;
    private readonly SendScheduler _scheduler;
    private readonly BackpressureGate _gate;
    private readonly long _softLimitBytes;
    private readonly BrokerMetrics _metrics;
    private readonly CancellationToken _aborted;
    private readonly TaskCompletionSource<bool> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Lock _lock = new();

    // The producer's: the segment frames go into, and the next free slot in it.
    private Segment? _tail;
    private int _tailIndex;
    private bool _usedSinceTick;

    // Written by the producer only, read by both: frames and bytes queued since the start.
    private long _enqueuedFrames;
    private long _enqueuedBytes;

    // The consumer's (whoever owns the flush): the segment frames are taken from, and the slot.
    private Segment? _head;
    private int _headIndex;
    private long _dequeuedFrames;

    // A drained segment the consumer hands back for the producer's next one: no allocation per
    // segment of frames in a steady flow.
    private Segment? _spare;

    private int _flushOwned;
    private bool _closeRequested;
    private bool _finished;

    private long _flushedBytes;
    private bool _holdsBackSenders = true;

    // Guarded by _lock.
    private bool _pressing;

    public OutboundQueue(Socket socket, SendScheduler scheduler, BackpressureGate gate, long softLimitBytes, BrokerMetrics metrics, CancellationToken aborted)
        : this(socket, tls: null, scheduler, gate, softLimitBytes, metrics, aborted)
    {
    }

    /// <param name="socket">The connection's socket.</param>
    /// <param name="tls">With TLS, the authenticated stream over <paramref name="socket"/> that every frame is written to; null for plain TCP.</param>
    /// <param name="scheduler">Runs the flushes.</param>
    /// <param name="gate">Held while the backlog is above the soft limit.</param>
    /// <param name="softLimitBytes">The backlog above which senders are held back.</param>
    /// <param name="metrics">Where bytes out are counted.</param>
    /// <param name="aborted">Cancels a write in progress.</param>
    public OutboundQueue(Socket socket, Stream? tls, SendScheduler scheduler, BackpressureGate gate, long softLimitBytes, BrokerMetrics metrics, CancellationToken aborted)
    {
        _socket = socket;
        _tls = tls;
        _scheduler = scheduler;
        _gate = gate;
        _softLimitBytes = softLimitBytes;
        _metrics = metrics;
        _aborted = aborted;
    }

    public long BufferedBytes => Volatile.Read(ref _finished) ? 0 : Math.Max(0, Volatile.Read(ref _enqueuedBytes) - Volatile.Read(ref _flushedBytes));

    public long FlushedBytes => Volatile.Read(ref _flushedBytes);

    public bool HoldsBackSenders
    {
        get => Volatile.Read(ref _holdsBackSenders);
        set
        {
            Volatile.Write(ref _holdsBackSenders, value);
            UpdatePressure();
        }
    }

    /// <summary>Raised by <see cref="Close"/> (false) or <see cref="Abort"/> (true); the connection watches it.</summary>
    public event Action<bool>? Closing;

    /// <summary>
    /// Completes when writing is over: true once everything queued before <see cref="Close"/> was
    /// written and the sending side shut down; false when aborted or the socket failed.
    /// </summary>
    public Task<bool> Completion => _completion.Task;

    public void Enqueue(byte[] frame)
    {
        if (Volatile.Read(ref _closeRequested) || Volatile.Read(ref _finished))
        {
            return;
        }

        Push(frame);
        var enqueued = _enqueuedBytes + frame.Length;
        Volatile.Write(ref _enqueuedBytes, enqueued);
        ClaimFlush();
        if (enqueued - Volatile.Read(ref _flushedBytes) > _softLimitBytes && !Volatile.Read(ref _pressing))
        {
            UpdatePressure();
        }
    }

    public void Close()
    {
        if (Volatile.Read(ref _closeRequested) || Volatile.Read(ref _finished))
        {
            return;
        }

        Volatile.Write(ref _closeRequested, true);
        Closing?.Invoke(false);
        ClaimFlush();
    }

    public void Abort()
    {
        Finish(written: false, ownsFlush: false);
        Closing?.Invoke(true);
    }

    /// <summary>Stops holding the senders back for good: the connection is gone.</summary>
    public void Detach()
    {
        Volatile.Write(ref _holdsBackSenders, false);
        UpdatePressure();
    }

    /// <summary>
    /// Writes what is queued until the queue is empty or the socket is full. Called by the
    /// scheduler only, by whoever set <see cref="_flushOwned"/>; <paramref name="buffer"/> is the
    /// scheduler's and must not be kept.
    /// </summary>
    internal void Flush(byte[] buffer)
    {
        if (_tls is not null)
        {
            FlushTls();
            return;
        }

        while (true)
        {
            if (Volatile.Read(ref _finished))
            {
                DropBacklog();
                return;
            }

            var chunk = Take(buffer, out var copied);
            if (chunk.IsEmpty)
            {
                if (Volatile.Read(ref _closeRequested))
                {
                    ShutDownSending();
                    return;
                }

                if (!ReleaseFlush())
                {
                    return;
                }

                continue;
            }

            int sent;
            SocketError error;
            try
            {
                sent = _socket.Send(chunk.Span, SocketFlags.None, out error);
            }
            catch (ObjectDisposedException)
            {
                Finish(written: false, ownsFlush: true);
                return;
            }

            if (error is not (SocketError.Success or SocketError.WouldBlock))
            {
                // The peer is gone; the reader reports it to the hub.
                Finish(written: false, ownsFlush: true);
                return;
            }

            sent = Math.Max(sent, 0);
            Flushed(sent);
            if (sent < chunk.Length)
            {
                // The socket is full. Finish this chunk off the scheduler; the queue stays owned
                // (nobody else schedules it) until the rest is written.
                _ = SendRestAsync(chunk[sent..], copied);
                return;
            }
        }
    }

    // The consumer's: nothing when nothing is queued; one frame as it is when it is alone or too big
    // to copy; otherwise as many frames as fit, copied into the buffer.
    private ReadOnlyMemory<byte> Take(byte[] buffer, out bool copied)
    {
        var available = Available();
        copied = false;
        if (available == 0)
        {
            return ReadOnlyMemory<byte>.Empty;
        }

        var first = Peek();
        if (available == 1 || first.Length >= buffer.Length)
        {
            Pop();
            return first;
        }

        copied = true;
        var length = 0;
        while (available > 0 && length + Peek().Length <= buffer.Length)
        {
            var frame = Pop();
            frame.AsSpan().CopyTo(buffer.AsSpan(length));
            length += frame.Length;
            available--;
        }

        return buffer.AsMemory(0, length);
    }

    private async Task SendRestAsync(ReadOnlyMemory<byte> rest, bool inSchedulerBuffer)
    {
        byte[]? rented = null;
        if (inSchedulerBuffer)
        {
            // The scheduler's buffer is reused as soon as Flush returns.
            rented = ArrayPool<byte>.Shared.Rent(rest.Length);
            rest.CopyTo(rented);
            rest = rented.AsMemory(0, rest.Length);
        }

        try
        {
            while (!rest.IsEmpty)
            {
                var sent = await _socket.SendAsync(rest, SocketFlags.None, _aborted).ConfigureAwait(false);
                Flushed(sent);
                rest = rest[sent..];
            }
        }
        catch (Exception exception) when (exception is not OutOfMemoryException)
        {
            // Aborted, or the peer is gone (or anything else: the connection ends either way).
            Finish(written: false, ownsFlush: true);
            return;
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }

        _scheduler.Schedule(this);
    }

    // Not inlined: the async state machine's set-up would otherwise sit in Flush's frame, which
    // plain connections run for every write.
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private void FlushTls() => _ = WriteTlsAsync(_tls!);

    /// <summary>
    /// The TLS counterpart of <see cref="Flush"/>: writes what is queued to the stream until the
    /// queue is empty, keeping the flush (so writes never overlap, as SslStream requires) across
    /// writes that do not complete at once. A write still reads its memory after it returns
    /// pending, so frames are coalesced into a buffer of this write's own, never the scheduler's.
    /// </summary>
    private async Task WriteTlsAsync(Stream tls)
    {
        byte[]? rented = null;
        try
        {
            while (true)
            {
                if (Volatile.Read(ref _finished))
                {
                    DropBacklog();
                    return;
                }

                if (Available() > 1)
                {
                    rented ??= ArrayPool<byte>.Shared.Rent(SendScheduler.BufferSize);
                }

                // One frame goes as it is; several are copied into this write's own buffer.
                var chunk = Take(rented ?? [], out _);
                if (chunk.IsEmpty)
                {
                    if (Volatile.Read(ref _closeRequested))
                    {
                        // close_notify, then the TCP end of stream, as for plain TCP.
                        await (tls is SslStream ssl ? ssl.ShutdownAsync() : Task.CompletedTask).ConfigureAwait(false);
                        ShutDownSending();
                        return;
                    }

                    if (!ReleaseFlush())
                    {
                        return;
                    }

                    continue;
                }

                await tls.WriteAsync(chunk, _aborted).ConfigureAwait(false);
                Flushed(chunk.Length);
            }
        }
        catch (Exception exception) when (exception is not OutOfMemoryException)
        {
            // Aborted, or the peer is gone: the connection ends either way.
            Finish(written: false, ownsFlush: true);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    /// <summary>Ends writing after an unexpected fault; the connection then closes.</summary>
    internal void Fail() => Finish(written: false, ownsFlush: true);

    private void ShutDownSending()
    {
        try
        {
            _socket.Shutdown(SocketShutdown.Send);
            Finish(written: true, ownsFlush: true);
        }
        catch (Exception exception) when (exception is SocketException or ObjectDisposedException)
        {
            Finish(written: false, ownsFlush: true);
        }
    }

    // Ends writing once. Whoever owns the flush (or takes it now: it is never given back once
    // finished) lets the backlog go; an owner still writing lets it go when it sees the end.
    private void Finish(bool written, bool ownsFlush)
    {
        var first = false;
        lock (_lock)
        {
            if (!_finished)
            {
                Volatile.Write(ref _finished, true);
                first = true;
            }
        }

        if (ownsFlush || Interlocked.CompareExchange(ref _flushOwned, 1, 0) == 0)
        {
            DropBacklog();
        }

        if (first)
        {
            UpdatePressure();
            _completion.TrySetResult(written);
        }
    }

    // The consumer's, once finished: the frames let go. A frame the producer pushes while it
    // checks for the end stays until the queue itself is collected.
    private void DropBacklog()
    {
        while (Available() > 0)
        {
            Pop();
        }

        Volatile.Write(ref _spare, null);
    }

    private void Flushed(int bytes)
    {
        if (bytes == 0)
        {
            return;
        }

        _metrics.BytesOut.Add(bytes);
        var flushed = Interlocked.Add(ref _flushedBytes, bytes);
        if (Volatile.Read(ref _pressing) && Volatile.Read(ref _enqueuedBytes) - flushed <= _softLimitBytes)
        {
            UpdatePressure();
        }
    }

    /// <summary>
    /// Lets the segments go once the queue has stayed empty since the previous call (the hub's
    /// slow-consumer tick calls it), so idle connections hold none: after a join storm most queues
    /// had grown to 16-32 slots and kept them (~0.18 KB per connection). Dropping them as soon as
    /// they were empty made a busy connection grow new ones for every burst: three quarters of the
    /// broker's allocations in the unpaced fan-out; a connection in use keeps them. The producer's
    /// (the hub's) call; it waits for the next tick while a flush runs, since that reads them.
    /// </summary>
    public void ReleaseIdleMemory()
    {
        if (_tail is null)
        {
            return;
        }

        if (_usedSinceTick)
        {
            _usedSinceTick = false;
            return;
        }

        if (Interlocked.CompareExchange(ref _flushOwned, 1, 0) != 0)
        {
            return;
        }

        if (Available() == 0 && !Volatile.Read(ref _closeRequested) && !Volatile.Read(ref _finished))
        {
            _tail = null;
            _tailIndex = 0;
            _head = null;
            _headIndex = 0;
            Volatile.Write(ref _spare, null);
        }

        if (ReleaseFlush())
        {
            // The consumer gave the flush up with work left just as this took it: the work is ours.
            _scheduler.Schedule(this);
        }
    }

    /// <summary>The slots the queue holds (0 when it has none), for tests: its segments and the spare.</summary>
    internal int HeldSlots
    {
        get
        {
            var slots = Volatile.Read(ref _spare)?.Slots.Length ?? 0;
            for (var segment = Volatile.Read(ref _head); segment is not null; segment = Volatile.Read(ref segment.Next))
            {
                slots += segment.Slots.Length;
            }

            return slots;
        }
    }

    // Frames published by the producer and not yet taken: the consumer's view (and the
    // producer's, while no flush runs).
    private long Available() => Volatile.Read(ref _enqueuedFrames) - _dequeuedFrames;

    // The producer's, after publishing a frame or the close: hands the queue to the scheduler
    // unless a flush is owned. The full fence between the publishing write and the read of
    // _flushOwned pairs with the one in ReleaseFlush: either this sees the flush given up, or
    // the consumer sees the frame.
    private void ClaimFlush()
    {
        Interlocked.MemoryBarrier();
        if (Volatile.Read(ref _flushOwned) == 0 && Interlocked.CompareExchange(ref _flushOwned, 1, 0) == 0)
        {
            _scheduler.Schedule(this);
        }
    }

    // The consumer's, having found nothing to take: gives the flush up, then looks once more.
    // True when it took the flush back for a frame or the close that came meanwhile, while the
    // producer still saw it owned.
    private bool ReleaseFlush()
    {
        Interlocked.Exchange(ref _flushOwned, 0);
        if (Available() == 0 && !Volatile.Read(ref _closeRequested))
        {
            return false;
        }

        return Interlocked.CompareExchange(ref _flushOwned, 1, 0) == 0;
    }

    // The producer's. A frame is published by the count, after its slot and any new segment's link.
    private void Push(byte[] frame)
    {
        _usedSinceTick = true;
        var tail = _tail;
        if (tail is null)
        {
            // Empty, and no flush reads the segments (none yet, or ReleaseIdleMemory let them go
            // while it owned the flush): both ends start in the new one.
            tail = new Segment(InitialFrames);
            _tail = tail;
            _tailIndex = 0;
            _head = tail;
            _headIndex = 0;
        }
        else if (_tailIndex == tail.Slots.Length)
        {
            var next = NextSegment(Math.Min(tail.Slots.Length * 2, MaxSegmentFrames));
            tail.Next = next;
            _tail = tail = next;
            _tailIndex = 0;
        }

        tail.Slots[_tailIndex++] = frame;
        Volatile.Write(ref _enqueuedFrames, _enqueuedFrames + 1);
    }

    private Segment NextSegment(int frames)
    {
        if (Interlocked.Exchange(ref _spare, null) is { } spare && spare.Slots.Length == frames)
        {
            spare.Next = null;
            return spare;
        }

        return new Segment(frames);
    }

    // The consumer's, with Available() > 0. A drained segment is left only once a frame follows
    // it, so the producer has linked the next one and writes there.
    private byte[] Peek()
    {
        var head = _head!;
        if (_headIndex == head.Slots.Length)
        {
            var drained = head;
            _head = head = drained.Next!;
            _headIndex = 0;
            Volatile.Write(ref _spare, drained);
        }

        return head.Slots[_headIndex]!;
    }

    private byte[] Pop()
    {
        var frame = Peek();
        _head!.Slots[_headIndex++] = null;
        _dequeuedFrames++;
        return frame;
    }

    // Transitions are rare, so a lock keeps the gate's count exact under races between the
    // hub (enqueue) and the writer (flush). The queue's own lock: the gate takes only its own
    // inside it and never calls back, and a second lock object cost 24 bytes per connection.
    private void UpdatePressure()
    {
        lock (_lock)
        {
            var shouldPress = Volatile.Read(ref _holdsBackSenders) && BufferedBytes > _softLimitBytes;
            if (shouldPress == _pressing)
            {
                return;
            }

            _pressing = shouldPress;
            if (shouldPress)
            {
                _gate.Press();
            }
            else
            {
                _gate.Release();
            }
        }
    }

    private sealed class Segment(int frames)
    {
        public readonly byte[]?[] Slots = new byte[]?[frames];

        public Segment? Next;
    }
}
