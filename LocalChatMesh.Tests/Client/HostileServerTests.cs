using System.Reactive.Threading.Tasks;
using System.Text;
using LocalChatMesh.Protocol;
using LocalChatMesh.Tests.Support;

namespace LocalChatMesh.Tests.Client;

/// <summary>
/// A client pointed at something that is not a chat broker fails with one clear line, never another
/// exception type, and never buffers without bound (issue 13).
/// </summary>
public class HostileServerTests
{
    private static readonly TimeSpan Deadline = FakeBroker.Deadline;

    [Test]
    public async Task An_HTTP_server_is_reported_as_not_the_chat_protocol()
    {
        using var server = FakeBroker.Start();
        var connecting = ChatClient.ConnectAsync(server.EndPoint, "alice");
        using var connection = await server.AcceptAsync();
        await connection.ReadLineAsync();
        await connection.SendRawAsync(Encoding.ASCII.GetBytes("HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nBad Request"));
        connection.Close();

        var exception = Assert.ThrowsAsync<ChatConnectionException>(() => connecting.WaitAsync(Deadline));

        Assert.That(exception.Message, Is.EqualTo($"could not connect to {server.EndPoint}: the server sent something that is not the chat protocol (\"HTTP/1.1 400 Bad Request\")"));
    }

    [Test]
    public async Task A_server_that_speaks_first_with_a_banner_is_reported_as_not_the_chat_protocol()
    {
        using var server = FakeBroker.Start();
        var connecting = ChatClient.ConnectAsync(server.EndPoint, "alice");
        using var connection = await server.AcceptAsync();
        await connection.SendLineAsync("SSH-2.0-OpenSSH_9.6p1 Debian-4 with a long banner that goes on and on");

        var exception = Assert.ThrowsAsync<ChatConnectionException>(() => connecting.WaitAsync(Deadline));

        Assert.That(exception.Message, Is.EqualTo($"could not connect to {server.EndPoint}: the server sent something that is not the chat protocol (\"SSH-2.0-OpenSSH_9.6p1 Debian-4 with a long banne\"…)"));
    }

    [Test]
    public async Task Garbage_bytes_are_reported_on_one_printable_line()
    {
        using var server = FakeBroker.Start();
        var connecting = ChatClient.ConnectAsync(server.EndPoint, "alice");
        using var connection = await server.AcceptAsync();
        var garbage = new byte[4000];
        new Random(13).NextBytes(garbage);
        garbage[0] = 0x1b;
        garbage[1] = (byte)'[';
        garbage[2] = 0xff;
        garbage[100] = (byte)'\n';
        await connection.SendRawAsync(garbage);

        var exception = Assert.ThrowsAsync<ChatConnectionException>(() => connecting.WaitAsync(Deadline));

        Assert.That(exception.Message, Does.StartWith($"could not connect to {server.EndPoint}: the server sent something that is not the chat protocol (\"\\x1b[\\xff"));
        AssertPrintableLine(exception.Message);
    }

    [TestCase("""{"jsonrpc":"2.0","id":1}""", "missing field 'type'")]
    [TestCase("""{"type":"welcome"}""", "missing field 'nickname'")]
    [TestCase("""{"type":"\u001b[2J\u0007"}""", "unknown message type '\\x1b[2J\\x07'")]
    [TestCase("[1,2,3]", "\"[1,2,3]\"")]
    public async Task JSON_that_is_not_the_chat_protocol_is_named_without_control_characters(string line, string reason)
    {
        using var server = FakeBroker.Start();
        var connecting = ChatClient.ConnectAsync(server.EndPoint, "alice");
        using var connection = await server.AcceptAsync();
        await connection.SendLineAsync(line);

        var exception = Assert.ThrowsAsync<ChatConnectionException>(() => connecting.WaitAsync(Deadline));

        Assert.That(exception.Message, Is.EqualTo($"could not connect to {server.EndPoint}: the server sent something that is not the chat protocol ({reason})"));
        AssertPrintableLine(exception.Message);
    }

    [Test]
    public async Task A_refusal_with_control_characters_has_a_printable_message_and_the_exact_text_aside()
    {
        using var server = FakeBroker.Start();
        var connecting = ChatClient.ConnectAsync(server.EndPoint, "alice");
        using var connection = await server.AcceptAsync();
        await connection.SendAsync(new ErrorMessage("go away\u001b[2J\nreally\u202e"));

        var exception = Assert.ThrowsAsync<ChatHandshakeException>(() => connecting.WaitAsync(Deadline));

        Assert.That(exception.ServerMessage, Is.EqualTo("go away\u001b[2J\nreally\u202e"));
        Assert.That(exception.Message, Is.EqualTo("go away\\x1b[2J\\x0areally\\u202e"));
    }

    [Test]
    public async Task A_chat_message_before_welcome_is_named()
    {
        using var server = FakeBroker.Start();
        var connecting = ChatClient.ConnectAsync(server.EndPoint, "alice");
        using var connection = await server.AcceptAsync();
        await connection.SendAsync(new ChatBroadcastMessage("mallory", "hi"));

        var exception = Assert.ThrowsAsync<ChatConnectionException>(() => connecting.WaitAsync(Deadline));

        Assert.That(exception.Message, Is.EqualTo($"could not connect to {server.EndPoint}: the server sent 'chat' before welcome"));
    }

    [TestCase(64 * 1024)]
    [TestCase(null)]
    public async Task An_endless_line_fails_connect_once_it_passes_the_limit(int? maxLineLength)
    {
        using var server = FakeBroker.Start();
        var options = maxLineLength is { } limit ? new ChatClientOptions { MaxLineLength = limit } : ChatClientOptions.Default;
        var connecting = ChatClient.ConnectAsync(server.EndPoint, "alice", options);
        using var connection = await server.AcceptAsync();
        var flood = FloodAsync(connection);

        var exception = Assert.ThrowsAsync<ChatConnectionException>(() => connecting.WaitAsync(Deadline));

        Assert.That(exception.Message, Is.EqualTo($"could not connect to {server.EndPoint}: the server sent a line longer than {options.MaxLineLength} bytes"));

        // The flood never ends by itself: it stops because the client gave up and closed.
        Assert.That(await flood.WaitAsync(Deadline), Is.GreaterThan(options.MaxLineLength));
    }

    [Test]
    public async Task A_server_that_accepts_and_never_answers_times_out()
    {
        using var server = FakeBroker.Start();
        var connecting = ChatClient.ConnectAsync(server.EndPoint, "alice", new ChatClientOptions { ConnectTimeout = TimeSpan.FromMilliseconds(500) });
        using var connection = await server.AcceptAsync();

        var exception = Assert.ThrowsAsync<ChatConnectionException>(() => connecting.WaitAsync(Deadline));

        Assert.That(exception.Message, Is.EqualTo($"could not connect to {server.EndPoint}: no welcome within 0.5 s"));
    }

    [Test]
    public async Task A_reset_during_the_handshake_is_a_ChatConnectionException()
    {
        using var server = FakeBroker.Start();
        var connecting = ChatClient.ConnectAsync(server.EndPoint, "alice");
        using var connection = await server.AcceptAsync();
        await connection.ReadLineAsync();
        connection.Reset();

        var exception = Assert.ThrowsAsync<ChatConnectionException>(() => connecting.WaitAsync(Deadline));

        Assert.That(exception.Message, Does.StartWith($"could not connect to {server.EndPoint}: "));
        AssertPrintableLine(exception.Message);
    }

    [Test]
    public async Task Garbage_after_welcome_ends_the_connection_as_a_transport_failure_with_one_line()
    {
        using var server = FakeBroker.Start();
        var connecting = ChatClient.ConnectAsync(server.EndPoint, "alice");
        using var connection = await server.AcceptAndWelcomeAsync();
        await using var client = await connecting.WaitAsync(Deadline);
        var messages = client.Messages.ToTask();

        await connection.SendRawAsync([0x1b, (byte)'[', (byte)'2', (byte)'J', 0xff, 0xfe, (byte)'\n']);

        var exception = Assert.ThrowsAsync<ChatConnectionException>(() => messages.WaitAsync(Deadline));
        Assert.That(exception.Message, Is.EqualTo($"the connection to {server.EndPoint} failed: the broker sent an invalid line: invalid UTF-8"));
        Assert.That(await client.Completion.WaitAsync(Deadline), Is.EqualTo(ChatClientCloseReason.TransportFailure));
    }

    [Test]
    public async Task An_endless_line_after_welcome_ends_the_connection_once_it_passes_the_limit()
    {
        using var server = FakeBroker.Start();
        var options = new ChatClientOptions { MaxLineLength = 64 * 1024 };
        var connecting = ChatClient.ConnectAsync(server.EndPoint, "alice", options);
        using var connection = await server.AcceptAndWelcomeAsync();
        await using var client = await connecting.WaitAsync(Deadline);
        var messages = client.Messages.ToTask();
        var flood = FloodAsync(connection);

        var exception = Assert.ThrowsAsync<ChatConnectionException>(() => messages.WaitAsync(Deadline));

        Assert.That(exception.Message, Is.EqualTo($"the connection to {server.EndPoint} failed: the broker sent a line longer than 65536 bytes"));
        Assert.That(await client.Completion.WaitAsync(Deadline), Is.EqualTo(ChatClientCloseReason.TransportFailure));
        await flood.WaitAsync(Deadline);
    }

    [Test]
    public async Task A_line_of_the_largest_chat_a_broker_can_send_fits_the_default_limit()
    {
        using var server = FakeBroker.Start();
        var connecting = ChatClient.ConnectAsync(server.EndPoint, "alice");
        using var connection = await server.AcceptAndWelcomeAsync();
        await using var client = await connecting.WaitAsync(Deadline);

        // 8 KiB of DEL, each escaped as \u007f by the broker: six times the client's line.
        var chat = new ChatBroadcastMessage(new string('n', 32), new string('\u007f', 8 * 1024)) { Room = new string('r', 32), Id = long.MaxValue, Time = DateTimeOffset.UnixEpoch };
        Assert.That(MessageEncoder.Encode(chat), Has.Length.GreaterThan(6 * 8 * 1024));
        var received = client.ReadMessagesAsync().FirstAsync().AsTask();
        await connection.SendAsync(chat);

        Assert.That(await received.WaitAsync(Deadline), Is.EqualTo(chat));
        connection.Close();
    }

    [Test]
    public void The_reader_stops_at_the_limit_instead_of_buffering_an_endless_line()
    {
        const int limit = 64 * 1024;
        var endless = new EndlessStream();
        var reader = new ServerMessageReader(endless, limit);

        var exception = Assert.ThrowsAsync<ServerProtocolException>(async () => await reader.ReadAsync(CancellationToken.None));

        Assert.That(exception.Message, Is.EqualTo($"the broker sent a line longer than {limit} bytes"));
        Assert.That(endless.Served, Is.GreaterThan(limit).And.LessThan(limit + (16 * 1024)), "the limit plus at most one read");
        reader.Complete();
    }

    // Writes a line that never ends until the peer closes; returns how many bytes went out.
    private static async Task<long> FloodAsync(FakeBrokerConnection connection)
    {
        var chunk = Encoding.ASCII.GetBytes(new string('a', 16 * 1024));
        long written = 0;
        try
        {
            while (true)
            {
                await connection.SendRawAsync(chunk);
                written += chunk.Length;
            }
        }
        catch (Exception exception) when (exception is IOException or System.Net.Sockets.SocketException or ObjectDisposedException)
        {
            return written;
        }
    }

    private static void AssertPrintableLine(string message) =>
        Assert.That(message.Any(c => char.IsControl(c) || char.GetUnicodeCategory(c) == System.Globalization.UnicodeCategory.Format), Is.False, message);

    /// <summary>A stream of 'a' without end, counting what it served.</summary>
    private sealed class EndlessStream : Stream
    {
        public long Served { get; private set; }

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            buffer.Fill((byte)'a');
            Served += buffer.Length;
            return buffer.Length;
        }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => new(Read(buffer.Span));

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
