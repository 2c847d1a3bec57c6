using System.Threading.Channels;
using LocalChatMesh.Hub;

namespace LocalChatMesh.Transport;

/// <summary>
/// A connection's outbound frames, counted in bytes. The hub enqueues without blocking; the
/// connection's writer loop drains it. The byte count drives backpressure (soft limit, through
/// the <see cref="BackpressureGate"/>) and the hub's slow-consumer rules (hard limit, progress).
/// </summary>
internal sealed class OutboundQueue(BackpressureGate gate, long softLimitBytes) : IOutboundSink
{
    private readonly Channel<byte[]> _frames = Channel.CreateUnbounded<byte[]>(
        new UnboundedChannelOptions { SingleReader = true, SingleWriter = false, AllowSynchronousContinuations = false });

    private readonly object _pressureLock = new();
    private long _bufferedBytes;
    private long _flushedBytes;
    private bool _holdsBackSenders = true;
    private bool _pressing;

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

    /// <summary>Set by <see cref="Close"/> or <see cref="Abort"/>; the connection watches it.</summary>
    public event Action<bool>? Closing;

    public ChannelReader<byte[]> Reader => _frames.Reader;

    public void Enqueue(byte[] frame)
    {
        if (_frames.Writer.TryWrite(frame))
        {
            var buffered = Interlocked.Add(ref _bufferedBytes, frame.Length);
            if (buffered > softLimitBytes && !Volatile.Read(ref _pressing))
            {
                UpdatePressure();
            }
        }
    }

    /// <summary>Called by the writer after bytes were handed to the socket.</summary>
    public void Flushed(int bytes)
    {
        Interlocked.Add(ref _flushedBytes, bytes);
        var buffered = Interlocked.Add(ref _bufferedBytes, -bytes);
        if (buffered <= softLimitBytes && Volatile.Read(ref _pressing))
        {
            UpdatePressure();
        }
    }

    public void Close()
    {
        if (_frames.Writer.TryComplete())
        {
            Closing?.Invoke(false);
        }
    }

    public void Abort()
    {
        _frames.Writer.TryComplete();
        Closing?.Invoke(true);
    }

    /// <summary>Stops holding the senders back for good: the connection is gone.</summary>
    public void Detach()
    {
        Volatile.Write(ref _holdsBackSenders, false);
        UpdatePressure();
    }

    // Transitions are rare, so a lock keeps the gate's count exact under races between the
    // hub (enqueue) and the writer (flush).
    private void UpdatePressure()
    {
        lock (_pressureLock)
        {
            var shouldPress = Volatile.Read(ref _holdsBackSenders) && Volatile.Read(ref _bufferedBytes) > softLimitBytes;
            if (shouldPress == _pressing)
            {
                return;
            }

            _pressing = shouldPress;
            if (shouldPress)
            {
                gate.Press();
            }
            else
            {
                gate.Release();
            }
        }
    }
}
