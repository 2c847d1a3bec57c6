using System.Net;
using System.Reactive.Subjects;
using LocalChatMesh.Hub;
using LocalChatMesh.Protocol;
using Microsoft.Reactive.Testing;

namespace LocalChatMesh.Tests.Support;

/// <summary>
/// A hub on a <see cref="TestScheduler"/> with connections made of Subjects: no sockets, no
/// threads, and time moves only when a test says so.
/// </summary>
internal sealed class HubHarness : IDisposable
{
    private readonly Subject<IHubConnection> _connections = new();
    private long _lastId;

    public HubHarness(Func<BrokerOptions, BrokerOptions>? configure = null)
    {
        var options = BrokerOptions.Default with { Scheduler = Scheduler };
        Options = configure?.Invoke(options) ?? options;
        Hub = new ChatHub(Options);
        Hub.Events.Subscribe(Events.Add);
        Hub.Run(_connections);
    }

    public TestScheduler Scheduler { get; } = new();

    public BrokerOptions Options { get; }

    public ChatHub Hub { get; }

    public List<BrokerEvent> Events { get; } = [];

    public FakeConnection Connect()
    {
        var connection = new FakeConnection(++_lastId);
        _connections.OnNext(connection);
        return connection;
    }

    /// <summary>Connects, says hello and checks the welcome.</summary>
    public FakeConnection Join(string nickname)
    {
        var connection = Connect();
        connection.Say(new HelloMessage(nickname));
        Assert.That(connection.Sink.Messages.FirstOrDefault(), Is.EqualTo(new WelcomeMessage(nickname.Trim())), $"{nickname} should be welcomed");
        return connection;
    }

    /// <summary>Connects and joins with a token.</summary>
    public FakeConnection JoinWithToken(string nickname, string token)
    {
        var connection = Connect();
        connection.Say(new HelloMessage(nickname) { Token = token });
        Assert.That(connection.Sink.Messages.FirstOrDefault(), Is.EqualTo(new WelcomeMessage(nickname)));
        return connection;
    }

    public void Advance(TimeSpan time) => Scheduler.AdvanceBy(time.Ticks);

    public void Dispose() => Hub.Dispose();
}

[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "A Subject holds nothing unmanaged; tests end it with Leave or Fail.")]
internal sealed class FakeConnection(long id) : IHubConnection
{
    private readonly Subject<ClientMessage> _inbound = new();

    public long Id { get; } = id;

    public EndPoint? RemoteEndPoint => null;

    public IObservable<ClientMessage> Inbound => _inbound;

    public FakeSink Sink { get; } = new();

    public IOutboundSink Outbound => Sink;

    public void Say(ClientMessage message) => _inbound.OnNext(message);

    public void Chat(string text) => Say(new ChatMessage(text));

    public void Leave() => _inbound.OnCompleted();

    public void Fail(Exception error) => _inbound.OnError(error);
}

/// <summary>
/// Records what the hub sends. By default everything is flushed at once; set
/// <see cref="Stuck"/> to let a backlog build up, as behind a socket nobody reads.
/// </summary>
internal sealed class FakeSink : IOutboundSink
{
    private readonly List<byte[]> _frames = [];
    private long _buffered;
    private long _flushed;

    public bool Stuck { get; set; }

    public long BufferedBytes => _buffered;

    public long FlushedBytes => _flushed;

    public bool HoldsBackSenders { get; set; } = true;

    public bool Closed { get; private set; }

    public bool Aborted { get; private set; }

    public bool IsOpen => !Closed && !Aborted;

    public IReadOnlyList<byte[]> Frames => _frames;

    public List<ServerMessage> Messages => [.. _frames.Select(Decode)];

    public void Enqueue(byte[] frame)
    {
        Assert.That(IsOpen, Is.True, "the hub wrote to a closed connection");
        _frames.Add(frame);
        if (Stuck)
        {
            _buffered += frame.Length;
        }
        else
        {
            _flushed += frame.Length;
        }
    }

    /// <summary>The client reads everything it was sent so far.</summary>
    public void Drain()
    {
        _flushed += _buffered;
        _buffered = 0;
        Stuck = false;
    }

    /// <summary>The client reads part of its backlog.</summary>
    public void Read(long bytes)
    {
        bytes = Math.Min(bytes, _buffered);
        _flushed += bytes;
        _buffered -= bytes;
    }

    public void Close() => Closed = true;

    public void Abort() => Aborted = true;

    public List<ServerMessage> TakeMessages()
    {
        var messages = Messages;
        _frames.Clear();
        return messages;
    }

    private static ServerMessage Decode(byte[] frame)
    {
        Assert.That(MessageDecoder.TryDecodeServerMessage(frame.AsSpan(0, frame.Length - 1), out var message, out var error), Is.True, error);
        return message!;
    }
}
