using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using LocalChatMesh.Diagnostics;
using LocalChatMesh.Hub;
using LocalChatMesh.Protocol;

namespace LocalChatMesh.Transport;

/// <summary>
/// One accepted socket: a reader loop that frames and decodes lines into <see cref="Inbound"/>,
/// and an <see cref="OutboundQueue"/> whose frames a <see cref="SendScheduler"/> writes.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "The socket is released when Completion finishes; the token source holds no timer.")]
internal sealed class TcpConnection : IHubConnection, IObservable<ClientMessage>
{
    // After a graceful close, how long to keep reading (and discarding) until the peer closes too.
    // Closing a socket with unread input sends a reset, which can destroy the final error message
    // before the peer reads it.
    //
    // Bounded in time and in bytes: a peer that keeps sending at full speed must not keep the
    // broker reading (and discarding) gigabytes for the whole timeout. Past the byte bound the
    // socket is closed with input unread, which resets the connection; what was sent before
    // (the final error) is already on its way and stays readable to the peer.
    private static readonly TimeSpan LingerTimeout = TimeSpan.FromSeconds(2);

    /// <summary>The most input read and discarded after the connection started closing.</summary>
    internal const int LingerMaxBytes = 64 * 1024;

    // TLS: zero-byte reads (an idle connection holds no read buffer); the SslStream stays open when
    // reading ends (the writer may still use it). Immutable, so one instance serves every connection.
    private static readonly StreamPipeReaderOptions TlsReaderOptions =
        new(bufferSize: 4096, minimumReadSize: 1024, leaveOpen: true, useZeroByteReads: true);

    // Plain TCP reads straight from the socket into a pooled buffer of this size, held only while
    // a line is incomplete or being framed (an idle connection holds none, as with zero-byte reads).
    private const int ReadBufferSize = 4096;
    private const int MinimumReadSize = 1024;

    private readonly Socket _socket;
    private readonly Stream? _tls;
    private readonly BackpressureGate _gate;
    private readonly int _maxLineLength;
    private readonly OutboundQueue _outbound;
    private readonly BrokerMetrics _metrics;
    private readonly Action<TcpConnection>? _ended;

    // The one observer of the input, the hub's (a Subject for one observer cost ~90 bytes more).
    private IObserver<ClientMessage> _inbound = NoObserver.Instance;

    // With TLS, the stream's reader, and the source that ends its reads and writes (made with the
    // connection). Plain TCP has neither: a pending receive ends when the socket is closed, and the
    // source is made only if the reader has to wait at the backpressure gate.
    private readonly PipeReader? _reader;
    private CancellationTokenSource? _abort;
    private int _stopping;
    private volatile bool _aborted;
    private volatile bool _closing;
    private volatile bool _cutOff;

    // Set once the hub's input has ended (EndInput); the reader loop's alone.
    private bool _inputEnded;

    /// <param name="id">The broker's number for the connection.</param>
    /// <param name="socket">The accepted socket, which the connection owns.</param>
    /// <param name="tls">With TLS, the authenticated SslStream over <paramref name="socket"/>, which the connection owns too; null for plain TCP.</param>
    /// <param name="scheduler">The scheduler that writes this connection's frames.</param>
    /// <param name="gate">Pauses reading while some client holds the senders back.</param>
    /// <param name="options">The broker's limits.</param>
    /// <param name="metrics">Where bytes in and out are counted.</param>
    /// <param name="ended">Called once both loops have ended and the socket is closed, just before <see cref="Completion"/> completes.</param>
    public TcpConnection(long id, Socket socket, Stream? tls, SendScheduler scheduler, BackpressureGate gate, BrokerOptions options, BrokerMetrics metrics, Action<TcpConnection>? ended = null)
    {
        _metrics = metrics;
        _ended = ended;
        Id = id;
        _socket = socket;
        _tls = tls;
        _gate = gate;
        _maxLineLength = options.MaxLineLength;
        RemoteEndPoint = socket.RemoteEndPoint;

        // A TLS stream stays open when reading ends: the writer may still be using it.
        if (tls is not null)
        {
            _reader = PipeReader.Create(tls, TlsReaderOptions);
            _abort = new CancellationTokenSource();
        }

        // Synchronous sends return at once with what the socket took (the scheduler must never
        // wait on one client); so do the plain reader's synchronous receives, and the
        // asynchronous receives are not affected.
        socket.Blocking = false;
        _outbound = new OutboundQueue(socket, tls, scheduler, gate, options.OutboundSoftLimitBytes, metrics, _abort?.Token ?? CancellationToken.None);
        _outbound.Closing += OnClosing;
    }

    public long Id { get; }

    public EndPoint? RemoteEndPoint { get; }

    public IObservable<ClientMessage> Inbound => this;

    public IOutboundSink Outbound => _outbound;

    /// <summary>Completes when both loops have ended and the socket is closed. Never faults.</summary>
    public Task Completion { get; private set; } = Task.CompletedTask;

    /// <summary>
    /// Subscribes the one observer of <see cref="Inbound"/> (the hub's), before <see cref="Start"/>;
    /// the subscription lasts as long as the connection.
    /// </summary>
    /// <exception cref="InvalidOperationException">Something already subscribed.</exception>
    public IDisposable Subscribe(IObserver<ClientMessage> observer)
    {
        ArgumentNullException.ThrowIfNull(observer);
        if (Interlocked.CompareExchange(ref _inbound, observer, NoObserver.Instance) != NoObserver.Instance)
        {
            throw new InvalidOperationException("A connection's input has one observer, the hub's.");
        }

        return System.Reactive.Disposables.Disposable.Empty;
    }

    /// <summary>Starts the loops; call once the hub has subscribed to <see cref="Inbound"/>.</summary>
    public void Start() => Completion = RunAsync();

    /// <summary>Closes now, whatever is queued.</summary>
    public void Abort() => _outbound.Abort();

    // Called under the hub's lock: nothing here may run connection code synchronously,
    // or it could call back into the hub while the hub is mid-step.
    private void OnClosing(bool abort)
    {
        _closing = true;
        _outbound.Detach();
        if (abort)
        {
            _aborted = true;
            if (_tls is not null)
            {
                _ = _abort!.CancelAsync();
            }
            else
            {
                // Off the hub's lock: closing the socket ends the pending receive.
                ThreadPool.UnsafeQueueUserWorkItem(static connection => _ = connection.StopReading(), this, preferLocal: false);
            }
        }
    }

    private async Task RunAsync()
    {
        var reading = _tls is null ? ReadSocketAsync() : ReadStreamAsync();
        if (!await _outbound.Completion.ConfigureAwait(false))
        {
            // Aborted, or the peer is gone: stop reading too.
            await StopReading().ConfigureAwait(false);
        }

        if (!_aborted && Volatile.Read(ref _stopping) == 0)
        {
            var lingerStart = System.Diagnostics.Stopwatch.GetTimestamp();
            await reading.WaitAsync(LingerTimeout).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);

            // Cut off at the byte bound, the peer is still sending: closing with its input unread
            // resets the connection and drops what the kernel has not sent yet (the final error
            // among it), so wait, within the same timeout, until that has left.
            while (_cutOff && HasUnsentOutput() && System.Diagnostics.Stopwatch.GetElapsedTime(lingerStart) < LingerTimeout)
            {
                await Task.Delay(10).ConfigureAwait(false);
            }
        }

        await StopReading().ConfigureAwait(false);
        await reading.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _outbound.Detach();
        if (_tls is not null)
        {
            await _tls.DisposeAsync().ConfigureAwait(false);
        }

        _socket.Dispose();
        _ended?.Invoke(this);
    }

    /// <summary>
    /// Ends reading: with TLS by cancelling the read; plain TCP by closing the socket, which ends
    /// a pending receive (and whatever write is pending: by then writing is over or aborted).
    /// </summary>
    private Task StopReading()
    {
        if (Interlocked.Exchange(ref _stopping, 1) == 1)
        {
            return Task.CompletedTask;
        }

        if (_tls is null)
        {
            _socket.Dispose();
        }

        // TLS: the read's source. Plain: the reader's source, if it made one to wait at the gate (see StopToken).
        return Volatile.Read(ref _abort)?.CancelAsync() ?? Task.CompletedTask;
    }

    // Plain TCP only: the token that ends a wait at the backpressure gate, made on first use.
    private CancellationToken StopToken()
    {
        var source = Volatile.Read(ref _abort);
        if (source is null)
        {
            var created = new CancellationTokenSource();
            source = Interlocked.CompareExchange(ref _abort, created, null) ?? created;
            if (Volatile.Read(ref _stopping) != 0)
            {
                // StopReading ran before the source was there to cancel.
                source.Cancel();
            }
        }

        return source.Token;
    }

    /// <summary>
    /// The plain TCP reader: waits with a zero-byte receive until the socket has input, then takes
    /// what is there with a non-blocking receive into a pooled buffer and frames it. Every outcome
    /// of the socket (end of stream, reset, closed by <see cref="StopReading"/>) is a value here,
    /// not an exception: a client that closes, even with input unread, throws nothing.
    /// </summary>
    private async Task ReadSocketAsync()
    {
        // Off the caller (the accept loop): input already there would otherwise be handled on it.
        await Task.Yield();

        var readiness = new ReceiveReadiness();
        byte[]? buffer = null;
        int start = 0, end = 0;
        long discarded = 0;
        try
        {
            while (true)
            {
                // Only reads made once closing count toward the bound, not the over-long line itself.
                var lingering = _closing || _inputEnded;
                var error = SocketError.Success;
                var received = 0;
                if (buffer is null)
                {
                    error = Volatile.Read(ref _stopping) != 0 ? SocketError.OperationAborted : await readiness.WaitAsync(_socket).ConfigureAwait(false);
                    if (error == SocketError.Success)
                    {
                        buffer = ArrayPool<byte>.Shared.Rent(ReadBufferSize);
                    }
                }

                if (buffer is not null)
                {
                    MakeRoom(ref buffer, ref start, ref end);
                    if (Volatile.Read(ref _stopping) != 0)
                    {
                        error = SocketError.OperationAborted;
                    }
                    else
                    {
                        received = _socket.Receive(buffer.AsSpan(end), SocketFlags.None, out error);
                    }
                }

                if (error == SocketError.WouldBlock)
                {
                    // Nothing there yet: woken for input someone else took, or the rest of a line
                    // has not come. Wait for more; an idle connection gives its buffer back.
                    if (start == end)
                    {
                        ArrayPool<byte>.Shared.Return(buffer!);
                        buffer = null;
                        start = end = 0;
                        continue;
                    }

                    error = Volatile.Read(ref _stopping) != 0 ? SocketError.OperationAborted : await readiness.WaitAsync(_socket).ConfigureAwait(false);
                    if (error == SocketError.Success)
                    {
                        continue;
                    }
                }

                if (error != SocketError.Success)
                {
                    EndInput(Volatile.Read(ref _stopping) != 0 ? new OperationCanceledException("The connection stopped reading.") : ReceiveFailed(error));

                    break;
                }

                if (received == 0)
                {
                    // The peer closed its side; a partial line at the end is dropped.
                    break;
                }

                end += received;
                var unread = new ReadOnlySequence<byte>(buffer!, start, end - start);
                var framed = unread;
                var status = FrameStatus.Incomplete;
                // The writes this receive's lines make wait for the end of the engine's batch,
                // where the scheduler writes after it (see SendScheduler); never across an await.
                SendScheduler.Defer(true);
                try
                {
                    while (!_closing && !_inputEnded && (status = LineFramer.TryReadLine(ref framed, _maxLineLength, out var line)) == FrameStatus.Line)
                    {
                        if (!LineFramer.IsBlank(line))
                        {
                            Deliver(line);
                        }

                        if (!_gate.IsOpen)
                        {
                            SendScheduler.Defer(false);
                            await _gate.WaitAsync(StopToken()).ConfigureAwait(false);
                            SendScheduler.Defer(true);
                        }
                    }
                }
                finally
                {
                    SendScheduler.Defer(false);
                }

                if (status == FrameStatus.TooLong)
                {
                    EndInput(new LineTooLongException(_maxLineLength));
                }

                // Once closing, input is read and thrown away until the peer closes, or until
                // the linger's byte bound is passed.
                var discarding = _closing || _inputEnded;
                var consumed = discarding ? unread.Length : unread.Length - framed.Length;
                _metrics.BytesIn.Add(consumed);
                start += (int)consumed;
                if (lingering)
                {
                    discarded += framed.Length;
                }

                if (start == end)
                {
                    ArrayPool<byte>.Shared.Return(buffer!);
                    buffer = null;
                    start = end = 0;
                }

                if (discarded > LingerMaxBytes)
                {
                    _cutOff = true;
                    break;
                }
            }

            EndInput();
        }
        catch (Exception exception)
        {
            EndInput(exception);
        }
        finally
        {
            if (buffer is not null)
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }

            readiness.Dispose();
        }
    }

    // At least MinimumReadSize free after the unread bytes: moved to the front, or into a buffer
    // twice the size. A line is at most the maximum line length plus "\r\n" before it is framed
    // or found too long, so the buffer stays within about twice that.
    private static void MakeRoom(ref byte[] buffer, ref int start, ref int end)
    {
        if (buffer.Length - end >= MinimumReadSize)
        {
            return;
        }

        var unread = end - start;
        if (buffer.Length - unread >= MinimumReadSize && start > 0)
        {
            buffer.AsSpan(start, unread).CopyTo(buffer);
        }
        else
        {
            var grown = ArrayPool<byte>.Shared.Rent(buffer.Length * 2);
            buffer.AsSpan(start, unread).CopyTo(grown);
            ArrayPool<byte>.Shared.Return(buffer);
            buffer = grown;
        }

        start = 0;
        end = unread;
    }

    // Ends the hub's input once: completed, or failed with what ended reading (later endings are
    // for a connection the hub already knows is over). Called by the one reader loop only.
    private void EndInput(Exception? error = null)
    {
        if (_inputEnded)
        {
            return;
        }

        _inputEnded = true;
        if (error is null)
        {
            _inbound.OnCompleted();
        }
        else
        {
            _inbound.OnError(error);
        }
    }

    // What a failed receive reports to the hub: made, not thrown (nothing to unwind, no stack trace).
    private static IOException ReceiveFailed(SocketError error) =>
        new($"Unable to read data from the transport connection: {new SocketException((int)error).Message}.", new SocketException((int)error));

    /// <summary>The TLS reader: lines from the stream's pipe, ended by cancelling its read.</summary>
    private async Task ReadStreamAsync()
    {
        // Off the caller, as the plain reader.
        await Task.Yield();

        var reader = _reader!;
        var token = _abort!.Token;
        long discarded = 0;
        try
        {
            while (true)
            {
                // Only reads made once closing count toward the bound, not the over-long line itself.
                var lingering = _closing || _inputEnded;
                var result = await reader.ReadAsync(token).ConfigureAwait(false);
                var buffer = result.Buffer;
                var status = FrameStatus.Incomplete;
                while (!_closing && !_inputEnded && (status = LineFramer.TryReadLine(ref buffer, _maxLineLength, out var line)) == FrameStatus.Line)
                {
                    if (!LineFramer.IsBlank(line))
                    {
                        Deliver(line);
                    }

                    if (!_gate.IsOpen)
                    {
                        await _gate.WaitAsync(token).ConfigureAwait(false);
                    }
                }

                if (status == FrameStatus.TooLong)
                {
                    EndInput(new LineTooLongException(_maxLineLength));
                }

                // Once closing, input is read and thrown away until the peer closes, or until
                // the linger's byte bound is passed.
                var discarding = _closing || _inputEnded;
                var consumed = discarding ? buffer.End : buffer.Start;
                _metrics.BytesIn.Add(result.Buffer.Slice(0, consumed).Length);
                reader.AdvanceTo(consumed, buffer.End);
                if (lingering)
                {
                    discarded += buffer.Length;
                }

                if (result.IsCompleted)
                {
                    break;
                }

                if (discarded > LingerMaxBytes)
                {
                    _cutOff = true;
                    break;
                }
            }

            EndInput();
        }
        catch (Exception exception)
        {
            EndInput(exception);
        }
        finally
        {
            await reader.CompleteAsync().ConfigureAwait(false);
        }
    }

    // Input before anybody subscribed goes nowhere, as with a Subject.
    private sealed class NoObserver : IObserver<ClientMessage>
    {
        public static readonly NoObserver Instance = new();

        public void OnNext(ClientMessage value)
        {
        }

        public void OnError(Exception error)
        {
        }

        public void OnCompleted()
        {
        }
    }

    // Linux's tcp_info: tcpi_unacked (segments sent and not yet acknowledged) at byte 24 and
    // tcpi_notsent_bytes at byte 144 (kernel 4.6 and later). Elsewhere: nothing known, close at once.
    private bool HasUnsentOutput()
    {
        const int SolTcp = 6, TcpInfo = 11, UnackedOffset = 24, NotSentOffset = 144;
        if (!OperatingSystem.IsLinux())
        {
            return false;
        }

        Span<byte> info = stackalloc byte[256];
        try
        {
            var length = _socket.GetRawSocketOption(SolTcp, TcpInfo, info);
            return length >= NotSentOffset + sizeof(uint)
                && (System.Runtime.InteropServices.MemoryMarshal.Read<uint>(info[UnackedOffset..]) != 0
                    || System.Runtime.InteropServices.MemoryMarshal.Read<uint>(info[NotSentOffset..]) != 0);
        }
        catch (Exception exception) when (exception is SocketException or ObjectDisposedException or PlatformNotSupportedException)
        {
            return false;
        }
    }

    private void Deliver(in ReadOnlySequence<byte> line)
    {
        ClientMessage message;
        if (line.IsSingleSegment)
        {
            message = MessageDecoder.DecodeClientMessage(line.FirstSpan);
        }
        else
        {
            var copy = ArrayPool<byte>.Shared.Rent((int)line.Length);
            line.CopyTo(copy);
            message = MessageDecoder.DecodeClientMessage(copy.AsSpan(0, (int)line.Length));
            ArrayPool<byte>.Shared.Return(copy);
        }

        _inbound.OnNext(message);
    }
}
