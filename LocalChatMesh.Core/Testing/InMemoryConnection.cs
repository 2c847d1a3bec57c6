using System.Net;
using System.Reactive.Linq;
using System.Reactive.Subjects;
using LocalChatMesh.Hub;
using LocalChatMesh.Protocol;

namespace LocalChatMesh.Testing;

/// <summary>
/// One client of an <see cref="InMemoryBroker"/>: send it client messages, read what the broker
/// queued for it. Set <see cref="IsReading"/> to false to play a client that stops reading, so
/// the slow-consumer rules see its backlog grow.
/// </summary>
public sealed class InMemoryConnection : IHubConnection, IOutboundSink, IDisposable
{
    private readonly Subject<ClientMessage> _inbound = new();
    private readonly Subject<ServerMessage> _messages = new();
    private readonly List<byte[]> _frames = [];
    private long _buffered;
    private long _flushed;

    internal InMemoryConnection(long id) => Id = id;

    /// <summary>The connection's id, as in <see cref="BrokerEvent.ConnectionId"/>.</summary>
    public long Id { get; }

    /// <summary>Everything the broker has queued for this client, decoded, in order.</summary>
    public IReadOnlyList<ServerMessage> Received => [.. _frames.Select(Decode)];

    /// <summary>Each message as the broker queues it; completes when the broker closes the connection.</summary>
    public IObservable<ServerMessage> Messages => _messages.AsObservable();

    /// <summary>True once the broker has closed the connection, gracefully or not.</summary>
    public bool IsClosed => ClosedGracefully || Aborted;

    /// <summary>
    /// While false the client reads nothing: what the broker queues counts as its backlog.
    /// Setting it back to true reads the whole backlog at once.
    /// </summary>
    public bool IsReading
    {
        get;
        set
        {
            field = value;
            if (value)
            {
                Read(_buffered);
            }
        }
    } = true;

    /// <summary>Bytes queued that the client has not read.</summary>
    public long BufferedBytes => _buffered;

    EndPoint? IHubConnection.RemoteEndPoint => null;

    IObservable<ClientMessage> IHubConnection.Inbound => _inbound;

    IOutboundSink IHubConnection.Outbound => this;

    long IOutboundSink.FlushedBytes => _flushed;

    bool IOutboundSink.HoldsBackSenders { get => HoldsBackSenders; set => HoldsBackSenders = value; }

    internal bool HoldsBackSenders { get; set; } = true;

    internal bool ClosedGracefully { get; private set; }

    internal bool Aborted { get; private set; }

    internal IReadOnlyList<byte[]> Frames => _frames;

    /// <summary>Sends a message to the broker, as a line on the socket would.</summary>
    public void Send(ClientMessage message) => _inbound.OnNext(message);

    /// <summary>Reads part of the backlog, as a slow client would.</summary>
    public void Read(long bytes)
    {
        bytes = Math.Clamp(bytes, 0, _buffered);
        _buffered -= bytes;
        _flushed += bytes;
    }

    /// <summary>Closes the client's side, as a client leaving does.</summary>
    public void Close() => _inbound.OnCompleted();

    /// <summary>Breaks the connection, as a reset does.</summary>
    public void Reset() => _inbound.OnError(new IOException("connection reset by peer"));

    /// <inheritdoc />
    public void Dispose()
    {
        _inbound.Dispose();
        _messages.Dispose();
    }

    internal void Fail(Exception error) => _inbound.OnError(error);

    internal void ClearReceived() => _frames.Clear();

    void IOutboundSink.Enqueue(byte[] frame)
    {
        if (IsClosed)
        {
            throw new InvalidOperationException("the broker wrote to a connection it had closed");
        }

        _frames.Add(frame);
        if (IsReading)
        {
            _flushed += frame.Length;
        }
        else
        {
            _buffered += frame.Length;
        }

        _messages.OnNext(Decode(frame));
    }

    void IOutboundSink.Close()
    {
        ClosedGracefully = true;
        _messages.OnCompleted();
    }

    void IOutboundSink.Abort()
    {
        Aborted = true;
        _messages.OnCompleted();
    }

    private static ServerMessage Decode(byte[] frame) =>
        MessageDecoder.TryDecodeServerMessage(frame.AsSpan(0, frame.Length - 1), out var message, out var error)
            ? message
            : throw new InvalidOperationException($"the broker sent an undecodable frame: {error}");
}
