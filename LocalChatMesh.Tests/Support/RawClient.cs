using System.Net;
using System.Net.Sockets;
using System.Text;
using LocalChatMesh.Protocol;

namespace LocalChatMesh.Tests.Support;

/// <summary>
/// A bare TCP line client for talking to a real broker: it sends exactly the bytes a test gives
/// it and decodes what comes back with the protocol's own decoder, one line at a time.
/// Sending and receiving may run concurrently; receiving must not run on two tasks at once.
/// </summary>
internal sealed class RawClient : IAsyncDisposable
{
    /// <summary>How long to wait for anything the broker should do; generous for a busy machine.</summary>
    public static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    private readonly Socket _socket;
    private byte[] _buffer = new byte[16 * 1024];
    private int _start;
    private int _end;
    private bool _closed;

    private RawClient(Socket socket)
    {
        _socket = socket;
    }

    public Socket Socket => _socket;

    /// <summary>Connects to the broker. A receive buffer size, if given, is set before connecting.</summary>
    public static async Task<RawClient> ConnectAsync(IPEndPoint endPoint, int? receiveBufferSize = null)
    {
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            if (receiveBufferSize is { } size)
            {
                socket.ReceiveBufferSize = size;
            }

            using var timeout = new CancellationTokenSource(Deadline);
            await socket.ConnectAsync(endPoint, timeout.Token);
            return new RawClient(socket);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Connects, sends hello and checks that the welcome echoes <paramref name="expectedNickname"/>.</summary>
    public static async Task<RawClient> JoinAsync(IPEndPoint endPoint, string nickname, string? expectedNickname = null, int? receiveBufferSize = null)
    {
        var client = await ConnectAsync(endPoint, receiveBufferSize);
        try
        {
            await client.SendAsync(new HelloMessage(nickname));
            var welcome = await client.ExpectAsync<WelcomeMessage>();
            Assert.That(welcome.Nickname, Is.EqualTo(expectedNickname ?? nickname), "the welcome echoes the nickname");
            return client;
        }
        catch
        {
            await client.DisposeAsync();
            throw;
        }
    }

    public Task SendLineAsync(string line) => SendAsync(Encoding.UTF8.GetBytes(line + "\n"));

    public Task SendAsync(ClientMessage message) => SendAsync(MessageEncoder.Encode(message));

    public Task SendChatAsync(string text) => SendAsync(new ChatMessage(text));

    /// <summary>Sends raw bytes, as they are: no newline is added.</summary>
    public async Task SendAsync(ReadOnlyMemory<byte> bytes)
    {
        using var timeout = new CancellationTokenSource(Deadline);
        while (!bytes.IsEmpty)
        {
            var sent = await _socket.SendAsync(bytes, SocketFlags.None, timeout.Token);
            bytes = bytes[sent..];
        }
    }

    /// <summary>
    /// The next message. Throws <see cref="TimeoutException"/> when none arrives in time,
    /// <see cref="EndOfStreamException"/> when the broker closes the connection first, and
    /// <see cref="InvalidDataException"/> when the broker sends something the protocol does not allow.
    /// </summary>
    public async Task<ServerMessage> ReceiveAsync(TimeSpan? deadline = null)
    {
        using var timeout = new CancellationTokenSource(deadline ?? Deadline);
        var message = await ReadMessageAsync(timeout.Token);
        return message ?? throw new EndOfStreamException("the broker closed the connection");
    }

    /// <summary>Receives the next message and asserts its type.</summary>
    public async Task<T> ExpectAsync<T>(TimeSpan? deadline = null)
        where T : ServerMessage
    {
        var message = await ReceiveAsync(deadline);
        Assert.That(message, Is.InstanceOf<T>(), $"expected a {typeof(T).Name}");
        return (T)message;
    }

    /// <summary>Receives the next message and asserts that it is an <c>error</c> with exactly this text.</summary>
    public async Task ExpectErrorAsync(string text)
    {
        var error = await ExpectAsync<ErrorMessage>();
        Assert.That(error.Message, Is.EqualTo(text));
    }

    /// <summary>Receives the next message and asserts that it is this chat.</summary>
    public async Task ExpectChatAsync(string nickname, string text)
    {
        var message = await ReceiveAsync();
        Assert.That(message, Is.EqualTo(new ChatBroadcastMessage(nickname, text)));
    }

    /// <summary>
    /// Reads until the broker closes the connection (end of stream or reset) and returns whatever
    /// messages arrived before that. Throws <see cref="TimeoutException"/> if it stays open.
    /// </summary>
    public async Task<IReadOnlyList<ServerMessage>> WaitForClosedAsync(TimeSpan? deadline = null)
    {
        using var timeout = new CancellationTokenSource(deadline ?? Deadline);
        var messages = new List<ServerMessage>();
        while (await ReadMessageAsync(timeout.Token) is { } message)
        {
            messages.Add(message);
        }

        return messages;
    }

    /// <summary>Closes abruptly: a zero linger makes the close send a TCP reset.</summary>
    public void Reset()
    {
        _socket.LingerState = new LingerOption(true, 0);
        _socket.Close();
    }

    public ValueTask DisposeAsync()
    {
        _socket.Dispose();
        return ValueTask.CompletedTask;
    }

    /// <summary>The next line exactly as the broker sent it, without its <c>\n</c>: for byte-for-byte checks.</summary>
    public async Task<string> ReceiveRawLineAsync(TimeSpan? deadline = null)
    {
        using var timeout = new CancellationTokenSource(deadline ?? Deadline);
        var line = await ReadLineAsync(timeout.Token);
        return line is null ? throw new EndOfStreamException("the broker closed the connection") : Encoding.UTF8.GetString(line);
    }

    // Null at end of stream or reset.
    private async Task<ServerMessage?> ReadMessageAsync(CancellationToken cancellationToken)
    {
        if (await ReadLineAsync(cancellationToken) is not { } line)
        {
            return null;
        }

        if (!MessageDecoder.TryDecodeServerMessage(line, out var message, out var problem))
        {
            throw new InvalidDataException($"the broker sent a line that does not decode ({problem}): {Encoding.UTF8.GetString(line)}");
        }

        return message;
    }

    private async Task<byte[]?> ReadLineAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            var newline = Array.IndexOf(_buffer, (byte)'\n', _start, _end - _start);
            if (newline >= 0)
            {
                var line = _buffer.AsSpan(_start, newline - _start).ToArray();
                _start = newline + 1;
                return line;
            }

            if (_closed)
            {
                if (_end > _start)
                {
                    throw new InvalidDataException($"the connection closed in the middle of a line: {Encoding.UTF8.GetString(_buffer, _start, _end - _start)}");
                }

                return null;
            }

            MakeRoom();
            int received;
            try
            {
                received = await _socket.ReceiveAsync(_buffer.AsMemory(_end), SocketFlags.None, cancellationToken);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException("the broker sent nothing more within the deadline");
            }
            catch (SocketException exception) when (exception.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionAborted)
            {
                received = 0;
            }

            if (received == 0)
            {
                _closed = true;
            }

            _end += received;
        }
    }

    private void MakeRoom()
    {
        if (_start > 0)
        {
            Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
            _end -= _start;
            _start = 0;
        }

        if (_end == _buffer.Length)
        {
            Array.Resize(ref _buffer, _buffer.Length * 2);
        }
    }
}
