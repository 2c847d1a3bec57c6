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
/// and a writer loop that drains the <see cref="OutboundQueue"/>, coalescing whatever is queued
/// into one socket write.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "The socket is released when Completion finishes; the token source holds no timer.")]
internal sealed class TcpConnection : IHubConnection
{
    private const int CoalescingBufferSize = 64 * 1024;

    // After a graceful close, how long to keep reading (and discarding) until the peer closes too.
    // Closing a socket with unread input sends a reset, which can destroy the final error message
    // before the peer reads it.
    private static readonly TimeSpan LingerTimeout = TimeSpan.FromSeconds(2);

    private readonly Socket _socket;
    private readonly BackpressureGate _gate;
    private readonly int _maxLineLength;
    private readonly Subject<ClientMessage> _inbound = new();
    private readonly OutboundQueue _outbound;
    private readonly CancellationTokenSource _abort = new();
    private readonly BrokerMetrics _metrics;
    private volatile bool _closing;

    public TcpConnection(long id, Socket socket, BackpressureGate gate, BrokerOptions options, BrokerMetrics metrics)
    {
        _metrics = metrics;
        Id = id;
        _socket = socket;
        _gate = gate;
        _maxLineLength = options.MaxLineLength;
        RemoteEndPoint = socket.RemoteEndPoint;
        _outbound = new OutboundQueue(gate, options.OutboundSoftLimitBytes);
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
        await WriteLoopAsync().ConfigureAwait(false);
        if (!_abort.IsCancellationRequested)
        {
            await reading.WaitAsync(LingerTimeout).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        await _abort.CancelAsync().ConfigureAwait(false);
        await reading.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _outbound.Detach();
        _socket.Dispose();
    }

    private async Task ReadLoopAsync()
    {
        var reader = PipeReader.Create(
            new NetworkStream(_socket, ownsSocket: false),
            new StreamPipeReaderOptions(bufferSize: 4096, minimumReadSize: 1024, leaveOpen: false, useZeroByteReads: true));
        var ended = false;
        try
        {
            while (true)
            {
                var result = await reader.ReadAsync(_abort.Token).ConfigureAwait(false);
                var buffer = result.Buffer;
                var status = FrameStatus.Incomplete;
                while (!_closing && (status = LineFramer.TryReadLine(ref buffer, _maxLineLength, out var line)) == FrameStatus.Line)
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

                // Once closing, input is read and thrown away until the peer closes.
                var consumed = _closing || ended ? buffer.End : buffer.Start;
                _metrics.BytesIn.Add(result.Buffer.Slice(0, consumed).Length);
                reader.AdvanceTo(consumed, buffer.End);
                if (result.IsCompleted)
                {
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

    private void Deliver(in ReadOnlySequence<byte> line)
    {
        ClientMessage? message;
        string? problem;
        if (line.IsSingleSegment)
        {
            MessageDecoder.TryDecodeClientMessage(line.FirstSpan, out message, out problem);
        }
        else
        {
            var copy = ArrayPool<byte>.Shared.Rent((int)line.Length);
            line.CopyTo(copy);
            MessageDecoder.TryDecodeClientMessage(copy.AsSpan(0, (int)line.Length), out message, out problem);
            ArrayPool<byte>.Shared.Return(copy);
        }

        _inbound.OnNext(message ?? new UnreadableLine(problem!));
    }

    private async Task WriteLoopAsync()
    {
        var frames = _outbound.Reader;
        byte[]? coalesced = null;
        try
        {
            while (await frames.WaitToReadAsync(_abort.Token).ConfigureAwait(false))
            {
                if (!frames.TryRead(out var first))
                {
                    continue;
                }

                if (first.Length >= CoalescingBufferSize || !frames.TryPeek(out _))
                {
                    await SendAsync(first).ConfigureAwait(false);
                    _outbound.Flushed(first.Length);
                    continue;
                }

                // Several frames are waiting: copy them into one buffer and write them at once.
                coalesced ??= ArrayPool<byte>.Shared.Rent(CoalescingBufferSize);
                first.CopyTo(coalesced, 0);
                var length = first.Length;
                while (frames.TryPeek(out var next) && length + next.Length <= coalesced.Length)
                {
                    frames.TryRead(out _);
                    next.CopyTo(coalesced, length);
                    length += next.Length;
                }

                await SendAsync(coalesced.AsMemory(0, length)).ConfigureAwait(false);
                _outbound.Flushed(length);
                if (!frames.TryPeek(out _))
                {
                    // Idle connections hold no buffer.
                    ArrayPool<byte>.Shared.Return(coalesced);
                    coalesced = null;
                }
            }

            _socket.Shutdown(SocketShutdown.Send);
        }
        catch (Exception exception) when (exception is OperationCanceledException or SocketException or ObjectDisposedException or IOException)
        {
            // The peer is gone or we aborted; the reader reports it to the hub.
            await _abort.CancelAsync().ConfigureAwait(false);
        }
        finally
        {
            if (coalesced is not null)
            {
                ArrayPool<byte>.Shared.Return(coalesced);
            }
        }
    }

    private async ValueTask SendAsync(ReadOnlyMemory<byte> bytes)
    {
        while (!bytes.IsEmpty)
        {
            var sent = await _socket.SendAsync(bytes, SocketFlags.None, _abort.Token).ConfigureAwait(false);
            _metrics.BytesOut.Add(sent);
            bytes = bytes[sent..];
        }
    }
}
