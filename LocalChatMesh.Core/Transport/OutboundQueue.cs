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
/// With TLS the frames go through the connection's <see cref="Stream"/> instead (see
/// <see cref="WriteTlsAsync"/>): the same queue and ownership, but each write is asynchronous.
/// The plain socket path is untouched by it but for one null test per flush.
/// </remarks>
internal sealed class OutboundQueue : IOutboundSink
{
    private const int InitialFrames = 4;

    private readonly Socket _socket;
    private readonly Stream? _tls;
    private readonly SendScheduler _scheduler;
    private readonly BackpressureGate _gate;
    private readonly long _softLimitBytes;
    private readonly BrokerMetrics _metrics;
    private readonly CancellationToken _aborted;
    private readonly TaskCompletionSource<bool> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly object _lock = new();

    // Guarded by _lock.
    private byte[]?[]? _ring;
    private int _head;
    private int _count;
    private bool _flushOwned;
    private bool _closeRequested;
    private bool _finished;
    private bool _ringUsed;

    private long _bufferedBytes;
    private long _flushedBytes;
    private bool _holdsBackSenders = true;
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

    public long BufferedBytes => Volatile.Read(ref _bufferedBytes);

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
        bool schedule;
        long buffered;
        lock (_lock)
        {
            if (_closeRequested || _finished)
            {
                return;
            }

            Push(frame);
            buffered = _bufferedBytes + frame.Length;
            Volatile.Write(ref _bufferedBytes, buffered);
            schedule = !_flushOwned;
            _flushOwned = true;
        }

        if (schedule)
        {
            _scheduler.Schedule(this);
        }

        if (buffered > _softLimitBytes && !Volatile.Read(ref _pressing))
        {
            UpdatePressure();
        }
    }

    public void Close()
    {
        bool schedule;
        lock (_lock)
        {
            if (_closeRequested || _finished)
            {
                return;
            }

            _closeRequested = true;
            schedule = !_flushOwned;
            _flushOwned = true;
        }

        Closing?.Invoke(false);
        if (schedule)
        {
            _scheduler.Schedule(this);
        }
    }

    public void Abort()
    {
        Finish(written: false);
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
            ReadOnlyMemory<byte> chunk;
            var copied = false;
            lock (_lock)
            {
                if (_finished)
                {
                    return;
                }

                if (_count == 0)
                {
                    _flushOwned = false;

                    if (!_closeRequested)
                    {
                        return;
                    }
                }

                chunk = _count == 0 ? ReadOnlyMemory<byte>.Empty : Take(buffer, out copied);
            }

            if (chunk.IsEmpty)
            {
                ShutDownSending();
                return;
            }

            int sent;
            SocketError error;
            try
            {
                sent = _socket.Send(chunk.Span, SocketFlags.None, out error);
            }
            catch (ObjectDisposedException)
            {
                Finish(written: false);
                return;
            }

            if (error is not (SocketError.Success or SocketError.WouldBlock))
            {
                // The peer is gone; the reader reports it to the hub.
                Finish(written: false);
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

    // Under _lock, with _count > 0: one frame as it is when it is alone or too big to copy,
    // otherwise as many frames as fit, copied into the scheduler's buffer.
    private ReadOnlyMemory<byte> Take(byte[] buffer, out bool copied)
    {
        var first = Peek();
        copied = !(_count == 1 || first.Length >= buffer.Length);
        if (!copied)
        {
            Pop();
            return first;
        }

        var length = 0;
        while (_count > 0 && length + Peek().Length <= buffer.Length)
        {
            var frame = Pop();
            frame.CopyTo(buffer, length);
            length += frame.Length;
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
            Finish(written: false);
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
                ReadOnlyMemory<byte> chunk;
                lock (_lock)
                {
                    if (_finished)
                    {
                        return;
                    }

                    if (_count == 0)
                    {
                        _flushOwned = false;

                        if (!_closeRequested)
                        {
                            return;
                        }
                    }

                    if (_count > 1)
                    {
                        rented ??= ArrayPool<byte>.Shared.Rent(SendScheduler.BufferSize);
                    }

                    chunk = _count == 0 ? ReadOnlyMemory<byte>.Empty : _count == 1 ? Pop() : Take(rented!, out _);
                }

                if (chunk.IsEmpty)
                {
                    // close_notify, then the TCP end of stream, as for plain TCP.
                    await (tls is SslStream ssl ? ssl.ShutdownAsync() : Task.CompletedTask).ConfigureAwait(false);
                    ShutDownSending();
                    return;
                }

                await tls.WriteAsync(chunk, _aborted).ConfigureAwait(false);
                Flushed(chunk.Length);
            }
        }
        catch (Exception exception) when (exception is not OutOfMemoryException)
        {
            // Aborted, or the peer is gone: the connection ends either way.
            Finish(written: false);
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
    internal void Fail() => Finish(written: false);

    private void ShutDownSending()
    {
        try
        {
            _socket.Shutdown(SocketShutdown.Send);
            Finish(written: true);
        }
        catch (Exception exception) when (exception is SocketException or ObjectDisposedException)
        {
            Finish(written: false);
        }
    }

    private void Finish(bool written)
    {
        lock (_lock)
        {
            if (_finished)
            {
                return;
            }

            _finished = true;
            _ring = null;
            _count = 0;
            Volatile.Write(ref _bufferedBytes, 0);
        }

        UpdatePressure();
        _completion.TrySetResult(written);
    }

    private void Flushed(int bytes)
    {
        if (bytes == 0)
        {
            return;
        }

        _metrics.BytesOut.Add(bytes);
        Interlocked.Add(ref _flushedBytes, bytes);
        long buffered;
        lock (_lock)
        {
            // Finish may already have dropped the count to zero.
            buffered = Math.Max(0, _bufferedBytes - bytes);
            Volatile.Write(ref _bufferedBytes, buffered);
        }

        if (buffered <= _softLimitBytes && Volatile.Read(ref _pressing))
        {
            UpdatePressure();
        }
    }

    /// <summary>
    /// Lets the ring go once it has stayed empty since the previous call (the hub's slow-consumer
    /// tick calls it), so idle connections hold none: after a join storm most rings had grown to
    /// 16-32 slots and kept them (~0.18 KB per connection). Dropping it as soon as it was empty
    /// made a busy connection grow a new ring for every burst: three quarters of the broker's
    /// allocations in the unpaced fan-out; a connection in use keeps its ring.
    /// </summary>
    public void ReleaseIdleMemory()
    {
        lock (_lock)
        {
            if (_ring is null)
            {
                return;
            }

            if (_count == 0 && !_ringUsed)
            {
                _ring = null;
                _head = 0;
            }

            _ringUsed = false;
        }
    }

    /// <summary>The slots of the ring of queued frames (0 when it has none), for tests.</summary>
    internal int RingCapacity
    {
        get
        {
            lock (_lock)
            {
                return _ring?.Length ?? 0;
            }
        }
    }

    private void Push(byte[] frame)
    {
        _ringUsed = true;
        if (_ring is null)
        {
            _ring = new byte[]?[InitialFrames];
            _head = 0;
        }
        else if (_count == _ring.Length)
        {
            var grown = new byte[]?[_ring.Length * 2];
            for (var i = 0; i < _count; i++)
            {
                grown[i] = _ring[(_head + i) & (_ring.Length - 1)];
            }

            _ring = grown;
            _head = 0;
        }

        _ring[(_head + _count) & (_ring.Length - 1)] = frame;
        _count++;
    }

    private byte[] Peek() => _ring![_head]!;

    private byte[] Pop()
    {
        var frame = _ring![_head]!;
        _ring[_head] = null;
        _head = (_head + 1) & (_ring.Length - 1);
        _count--;
        return frame;
    }

    // Transitions are rare, so a lock keeps the gate's count exact under races between the
    // hub (enqueue) and the writer (flush). The queue's own lock: the gate takes only its own
    // inside it and never calls back, and a second lock object cost 24 bytes per connection.
    private void UpdatePressure()
    {
        lock (_lock)
        {
            var shouldPress = Volatile.Read(ref _holdsBackSenders) && Volatile.Read(ref _bufferedBytes) > _softLimitBytes;
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
}
