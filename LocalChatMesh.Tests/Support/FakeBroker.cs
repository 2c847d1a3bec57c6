using System.Net;
using System.Net.Sockets;
using System.Text;
using LocalChatMesh.Protocol;

namespace LocalChatMesh.Tests.Support;

/// <summary>
/// A scripted stand-in for the broker on 127.0.0.1 with a free port: the test accepts each
/// connection and then reads and writes it line by line.
/// </summary>
internal sealed class FakeBroker : IDisposable
{
    public static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    private readonly TcpListener _listener;

    private FakeBroker(TcpListener listener)
    {
        _listener = listener;
        EndPoint = (IPEndPoint)listener.LocalEndpoint;
    }

    public IPEndPoint EndPoint { get; }

    public static FakeBroker Start()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return new FakeBroker(listener);
    }

    /// <summary>An address where nothing listens: bound to a free port, then released.</summary>
    public static IPEndPoint RefusingEndPoint()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return (IPEndPoint)socket.LocalEndPoint!;
    }

    public async Task<FakeBrokerConnection> AcceptAsync()
    {
        var socket = await _listener.AcceptSocketAsync().WaitAsync(Deadline);
        return new FakeBrokerConnection(socket);
    }

    /// <summary>Accepts a connection, reads its <c>hello</c> and welcomes the trimmed nickname.</summary>
    public async Task<FakeBrokerConnection> AcceptAndWelcomeAsync(params ServerMessage[] alsoSend)
    {
        var connection = await AcceptAsync();
        var hello = await connection.ReadMessageAsync<HelloMessage>();
        await connection.SendAsync([new WelcomeMessage(hello.Nickname.Trim()), .. alsoSend]);
        return connection;
    }

    /// <summary>The session secret a version 2 welcome from this fake carries.</summary>
    public const string Session = "c2Vzc2lvbi1zZWNyZXQtMTI4LWJpdHM";

    /// <summary>
    /// Accepts a connection, reads its <c>hello</c> and welcomes it as a version 2 broker would:
    /// granting <paramref name="grant"/> (by default everything asked for), with <see cref="Session"/>
    /// and a <c>max_line_length</c> of 8 KiB.
    /// </summary>
    public async Task<FakeBrokerConnection> AcceptAndGrantAsync(IReadOnlyList<string>? grant = null, params ServerMessage[] alsoSend)
    {
        var connection = await AcceptAsync();
        var hello = await connection.ReadMessageAsync<HelloMessage>();
        connection.Hello = hello;
        var welcome = new WelcomeMessage(hello.Nickname.Trim())
        {
            Capabilities = grant ?? hello.Capabilities ?? [],
            Session = Session,
            MaxLineLength = 8 * 1024,
        };
        await connection.SendAsync([welcome, .. alsoSend]);
        return connection;
    }

    /// <summary>Connects a client asking for <paramref name="capabilities"/> and welcomes it, granting <paramref name="grant"/> (by default all asked).</summary>
    public async Task<(ChatClient Client, FakeBrokerConnection Connection)> ConnectAsync(
        IReadOnlyList<string> capabilities,
        IReadOnlyList<string>? grant = null,
        ChatClientOptions? options = null)
    {
        var connecting = ChatClient.ConnectAsync(EndPoint, "alice", (options ?? ChatClientOptions.Default) with { Capabilities = capabilities });
        var connection = await AcceptAndGrantAsync(grant);
        return (await connecting.WaitAsync(Deadline), connection);
    }

    public void Dispose() => _listener.Dispose();
}

internal sealed class FakeBrokerConnection : IDisposable
{
    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly StreamReader _reader;

    public FakeBrokerConnection(Socket socket)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: true);
        _reader = new StreamReader(_stream, new UTF8Encoding(false));
    }

    /// <summary>The client's <c>hello</c>, when a helper that reads it accepted the connection.</summary>
    public HelloMessage? Hello { get; set; }

    /// <summary>The next line from the client, or null when it closed its sending side.</summary>
    public async Task<string?> ReadLineAsync() => await _reader.ReadLineAsync().WaitAsync(FakeBroker.Deadline);

    public async Task<T> ReadMessageAsync<T>()
        where T : ClientMessage
    {
        var line = await ReadLineAsync() ?? throw new AssertionException("the client closed instead of sending a line");
        if (!MessageDecoder.TryDecodeClientMessage(Encoding.UTF8.GetBytes(line), out var message, out var error))
        {
            throw new AssertionException($"the client sent an invalid line ({error}): {line}");
        }

        return message as T ?? throw new AssertionException($"expected {typeof(T).Name}, got {message}");
    }

    /// <summary>Sends the messages in one write, so they arrive together.</summary>
    public Task SendAsync(params ServerMessage[] messages) =>
        SendRawAsync(messages.SelectMany(MessageEncoder.Encode).ToArray());

    public Task SendLineAsync(string line) => SendRawAsync(Encoding.UTF8.GetBytes(line + "\n"));

    public async Task SendRawAsync(byte[] bytes) => await _stream.WriteAsync(bytes).AsTask().WaitAsync(FakeBroker.Deadline);

    /// <summary>Closes cleanly: the client reads end of stream.</summary>
    public void Close() => _socket.Shutdown(SocketShutdown.Both);

    /// <summary>Closes abruptly with a TCP reset.</summary>
    public void Reset()
    {
        _socket.LingerState = new LingerOption(true, 0);
        _socket.Close();
    }

    public void Dispose()
    {
        _reader.Dispose();
        _socket.Dispose();
    }
}
