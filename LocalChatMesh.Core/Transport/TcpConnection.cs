using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Reactive.Subjects;
using LocalChatMesh.Diagnostics;
using LocalChatMesh.Hub;
using LocalChatMesh.Protocol;

namespace LocalChatMesh.Transport;

/// <summary>
/// One accepted socket: a reader loop that frames and decodes lines into <see cref="Inbound"/>,
/// and an <see cref="OutboundQueue"/> whose frames a <see cref="SendScheduler"/> writes.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "The socket is released when Completion finishes; the token source holds no timer.")]
internal sealed class TcpConnection : IHubConnection
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

    // Zero-byte reads: an idle connection holds no read buffer. The options are immutable, so one
    // instance serves every connection (40 bytes less per connection).
    private static readonly StreamPipeReaderOptions ReaderOptions =
        new(bufferSize: 4096, minimumReadSize: 1024, leaveOpen: false, useZeroByteReads: true);

    // SslStream supports zero-byte reads too; it stays open when reading ends (the writer may still use it).
    private static readonly StreamPipeReaderOptions TlsReaderOptions =
        new(bufferSize: 4096, minimumReadSize: 1024, leaveOpen: true, useZeroByteReads: true);

    private readonly Socket _socket;
    private readonly Stream? _tls;
    private readonly PipeReader _reader;
    private readonly BackpressureGate _gate;
    private readonly int _maxLineLength;
    private readonly Subject<ClientMessage> _inbound = new();
    private readonly OutboundQueue _outbound;
    private readonly CancellationTokenSource _abort = new();
    private readonly BrokerMetrics _metrics;
    private volatile bool _closing;
    private volatile bool _cutOff;

    /// <param name="id">The broker's number for the connection.</param>
    /// <param name="socket">The accepted socket, which the connection owns.</param>
    /// <param name="tls">With TLS, the authenticated SslStream over <paramref name="socket"/>, which the connection owns too; null for plain TCP.</param>
    /// <param name="scheduler">The scheduler that writes this connection's frames.</param>
    /// <param name="gate">Pauses reading while some client holds the senders back.</param>
    /// <param name="options">The broker's limits.</param>
    /// <param name="metrics">Where bytes in and out are counted.</param>
    public TcpConnection(long id, Socket socket, Stream? tls, SendScheduler scheduler, BackpressureGate gate, BrokerOptions options, BrokerMetrics metrics)
    {
        _metrics = metrics;
        Id = id;
        _socket = socket;
        _tls = tls;
        _gate = gate;
        _maxLineLength = options.MaxLineLength;
        RemoteEndPoint = socket.RemoteEndPoint;

        // The stream refuses a non-blocking socket, so it is made first. A TLS stream stays open
        // when reading ends: the writer may still be using it.
        _reader = tls is null
            ? PipeReader.Create(new NetworkStream(socket, ownsSocket: false), ReaderOptions)
            : PipeReader.Create(tls, TlsReaderOptions);

        // Synchronous sends return at once with what the socket took (the scheduler must never
        // wait on one client); the reader's asynchronous receives are not affected.
        socket.Blocking = false;
        _outbound = new OutboundQueue(socket, tls, scheduler, gate, options.OutboundSoftLimitBytes, metrics, _abort.Token);
        _outbound.Closing += OnClosing;
    }

    public long Id { get; }

    public EndPoint? RemoteEndPoint { get; }

    public IObservable<ClientMessage> Inbound => _inbound;

    public IOutboundSink Outbound => _outbound;

    /// <summary>Completes when both loops have ended and the socket is closed. Never faults.</summary>
    public Task Completion { get; private set; } = Task.CompletedTask;

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
            _ = _abort.CancelAsync();
        }
    }

    private async Task RunAsync()
    {
        var reading = Task.Run(ReadLoopAsync);
        if (!await _outbound.Completion.ConfigureAwait(false))
        {
            // Aborted, or the peer is gone: stop reading too.
            await _abort.CancelAsync().ConfigureAwait(false);
        }

        if (!_abort.IsCancellationRequested)
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

        await _abort.CancelAsync().ConfigureAwait(false);
        await reading.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _outbound.Detach();
        if (_tls is not null)
        {
            await _tls.DisposeAsync().ConfigureAwait(false);
        }

        _socket.Dispose();
    }

    private async Task ReadLoopAsync()
    {
        var reader = _reader;
        var ended = false;
        long discarded = 0;
        try
        {
            while (true)
            {
                // Only reads made once closing count toward the bound, not the over-long line itself.
                var lingering = _closing || ended;
                var result = await reader.ReadAsync(_abort.Token).ConfigureAwait(false);
                var buffer = result.Buffer;
                var status = FrameStatus.Incomplete;
                while (!_closing && !ended && (status = LineFramer.TryReadLine(ref buffer, _maxLineLength, out var line)) == FrameStatus.Line)
                {
                    if (!LineFramer.IsBlank(line))
                    {
                        Deliver(line);
                    }

                    if (!_gate.IsOpen)
                    {
                        await _gate.WaitAsync(_abort.Token).ConfigureAwait(false);
                    }
                }

                if (status == FrameStatus.TooLong && !ended)
                {
                    ended = true;
                    _inbound.OnError(new LineTooLongException(_maxLineLength));
                }

                // Once closing, input is read and thrown away until the peer closes, or until
                // the linger's byte bound is passed.
                var discarding = _closing || ended;
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

            if (!ended)
            {
                ended = true;
                _inbound.OnCompleted();
            }
        }
        catch (Exception exception) when (!ended)
        {
            _inbound.OnError(exception);
        }
        catch (Exception) when (ended)
        {
            // The hub already knows this connection is over.
        }
        finally
        {
            await reader.CompleteAsync().ConfigureAwait(false);
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
