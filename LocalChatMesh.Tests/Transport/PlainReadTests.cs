using System.Net;
using System.Net.Sockets;
using System.Text;
using LocalChatMesh.Diagnostics;
using LocalChatMesh.Protocol;
using LocalChatMesh.Tests.Support;
using LocalChatMesh.Transport;

namespace LocalChatMesh.Tests.Transport;

/// <summary>
/// The plain TCP reader, which reads the socket itself (zero-byte receive, then a non-blocking
/// receive into a pooled buffer): resets as values rather than exceptions, lines longer than its
/// first buffer, and its one observer.
/// </summary>
public class PlainReadTests
{
    [Test]
    public async Task A_client_that_resets_ends_as_a_transport_error_and_the_broker_throws_nothing()
    {
        const int Clients = 5;
        await using var broker = await TestBroker.StartAsync();
        using var events = new EventRecorder(broker);
        var clients = new List<RawClient>();
        for (var i = 0; i < Clients; i++)
        {
            clients.Add(await RawClient.JoinAsync(broker.LocalEndPoint, $"reset{i}"));
        }

        // Exceptions about a reset, thrown anywhere in this process (the broker's side of it:
        // the clients here never read again, so nothing of theirs sees the reset).
        var thrown = new List<string>();
        void Record(object? sender, System.Runtime.ExceptionServices.FirstChanceExceptionEventArgs e)
        {
            var socketError = (e.Exception as SocketException ?? e.Exception.InnerException as SocketException)?.SocketErrorCode;
            if (socketError == SocketError.ConnectionReset)
            {
                lock (thrown)
                {
                    thrown.Add($"{e.Exception.GetType().Name}: {e.Exception.Message}");
                }
            }
        }

        AppDomain.CurrentDomain.FirstChanceException += Record;
        try
        {
            foreach (var client in clients)
            {
                client.Reset();
            }

            var gone = await events.WaitForCountAsync<ClientDisconnectedEvent>(Clients);
            Assert.That(gone.Select(e => e.Reason), Is.All.EqualTo(DisconnectReason.TransportError));
        }
        finally
        {
            AppDomain.CurrentDomain.FirstChanceException -= Record;
            foreach (var client in clients)
            {
                await client.DisposeAsync();
            }
        }

        lock (thrown)
        {
            Assert.That(thrown, Is.Empty, "a reset is a normal end of a connection: nothing is thrown for it");
        }
    }

    [TestCase("\n")]
    [TestCase("\r\n")]
    public async Task A_line_of_the_default_limit_is_read_through_a_buffer_that_grows(string terminator)
    {
        await using var broker = await TestBroker.StartAsync();
        await using var alice = await RawClient.JoinAsync(broker.LocalEndPoint, "alice");

        // The reader starts with 4 KiB: an 8 KiB line makes it grow twice. Sent with a short
        // line before it and after it in the same write, and again in small pieces.
        var (line, text) = ChatLine(LineFramer.DefaultMaxLineLength);
        await alice.SendAsync(Encoding.UTF8.GetBytes("{\"type\":\"chat\",\"text\":\"before\"}\n" + line + terminator + "{\"type\":\"chat\",\"text\":\"after\"}\n"));
        await alice.ExpectChatAsync("alice", "before");
        await alice.ExpectChatAsync("alice", text);
        await alice.ExpectChatAsync("alice", "after");

        var bytes = Encoding.UTF8.GetBytes(line + terminator);
        for (var offset = 0; offset < bytes.Length; offset += 700)
        {
            await alice.SendAsync(bytes.AsMemory(offset, Math.Min(700, bytes.Length - offset)));
        }

        await alice.ExpectChatAsync("alice", text);
    }

    [Test]
    public async Task A_line_one_byte_over_the_default_limit_is_refused()
    {
        await using var broker = await TestBroker.StartAsync();
        await using var alice = await RawClient.JoinAsync(broker.LocalEndPoint, "alice");

        var (line, _) = ChatLine(LineFramer.DefaultMaxLineLength + 1);
        await alice.SendAsync(Encoding.UTF8.GetBytes(line + "\n"));

        Assert.That(await alice.WaitForClosedAsync(), Is.EqualTo(new ServerMessage[] { new ErrorMessage($"line exceeds the limit of {LineFramer.DefaultMaxLineLength} bytes") }));
    }

    [Test]
    public async Task The_input_has_one_observer()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        using var timeout = new CancellationTokenSource(RawClient.Deadline);
        var accepting = listener.AcceptAsync(timeout.Token);
        await client.ConnectAsync(listener.LocalEndPoint!, timeout.Token);
        using var server = await accepting;
        using var metrics = new BrokerMetrics(() => 0, () => 0, () => 0, () => 0);
        var connection = new TcpConnection(1, server, tls: null, new SendScheduler(), new BackpressureGate(), BrokerOptions.Default, metrics);

        connection.Inbound.Subscribe(_ => { });

        Assert.That(() => connection.Inbound.Subscribe(_ => { }), Throws.InvalidOperationException);
    }

    // A chat line of exactly `length` bytes, and its text.
    private static (string Line, string Text) ChatLine(int length)
    {
        const string Prefix = "{\"type\":\"chat\",\"text\":\"";
        const string Suffix = "\"}";
        var text = new string('x', length - Prefix.Length - Suffix.Length);
        return (Prefix + text + Suffix, text);
    }
}
