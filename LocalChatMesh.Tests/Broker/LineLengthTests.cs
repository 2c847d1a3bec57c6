using System.Net.Sockets;
using System.Text;
using LocalChatMesh.Protocol;
using LocalChatMesh.Transport;
using LocalChatMesh.Tests.Support;

namespace LocalChatMesh.Tests.Broker;

public class LineLengthTests
{
    private const int Limit = 1024;
    private const string TooLong = "line exceeds the limit of 1024 bytes";

    [TestCase("\n")]
    [TestCase("\r\n")]
    public async Task A_line_of_exactly_the_limit_is_accepted(string terminator)
    {
        await using var broker = await TestBroker.StartAsync(o => o with { MaxLineLength = Limit });
        await using var alice = await RawClient.JoinAsync(broker.LocalEndPoint, "alice");

        var (line, text) = ChatLine(Limit);
        await alice.SendAsync(Encoding.UTF8.GetBytes(line + terminator));

        await alice.ExpectChatAsync("alice", text);
    }

    [Test]
    public async Task A_line_over_the_limit_gets_an_error_then_close_and_the_others_carry_on()
    {
        await using var broker = await TestBroker.StartAsync(o => o with { MaxLineLength = Limit });
        using var events = new EventRecorder(broker);
        await using var alice = await RawClient.JoinAsync(broker.LocalEndPoint, "alice");
        await using var bob = await RawClient.JoinAsync(broker.LocalEndPoint, "bob");
        await bob.ExpectAsync<RosterMessage>();
        Assert.That(await alice.ReceiveAsync(), Is.EqualTo(new UserJoinedMessage("bob")));

        await alice.SendLineAsync(ChatLine(Limit + 1).Line);

        await alice.ExpectErrorAsync(TooLong);
        Assert.That(await alice.WaitForClosedAsync(), Is.Empty);
        Assert.That(await bob.ReceiveAsync(), Is.EqualTo(new UserLeftMessage("alice")));
        var disconnected = await events.WaitForAsync<ClientDisconnectedEvent>();
        Assert.That(disconnected, Is.EqualTo(new ClientDisconnectedEvent(1, "alice", DisconnectReason.LineTooLong)));

        await bob.SendChatAsync("carry on");
        await bob.ExpectChatAsync("bob", "carry on");
        await using var alice2 = await RawClient.JoinAsync(broker.LocalEndPoint, "alice");
    }

    [Test]
    public async Task An_over_long_hello_is_refused_too()
    {
        await using var broker = await TestBroker.StartAsync(o => o with { MaxLineLength = Limit });
        await using var client = await RawClient.ConnectAsync(broker.LocalEndPoint);

        await client.SendLineAsync($$"""{"type":"hello","nickname":"alice","padding":"{{new string('p', Limit)}}"}""");

        await client.ExpectErrorAsync(TooLong);
        Assert.That(await client.WaitForClosedAsync(), Is.Empty);
        Assert.That(broker.Participants, Is.Empty);
    }

    [TestCase(Limit + 2)]
    [TestCase(256 * 1024)]
    public async Task An_over_long_line_without_a_newline_is_refused_without_waiting_for_its_end(int length)
    {
        await using var broker = await TestBroker.StartAsync(o => o with { MaxLineLength = Limit });
        await using var bob = await RawClient.JoinAsync(broker.LocalEndPoint, "bob");
        await using var alice = await RawClient.JoinAsync(broker.LocalEndPoint, "alice");
        await alice.ExpectAsync<RosterMessage>();
        Assert.That(await bob.ReceiveAsync(), Is.EqualTo(new UserJoinedMessage("alice")));

        // No newline ever comes; the broker must not wait for one. The send runs on its own,
        // as the broker may close before taking all of it.
        var unterminated = Encoding.UTF8.GetBytes("{\"type\":\"chat\",\"text\":\"" + new string('x', length));
        var sending = Task.Run(() => alice.SendAsync(unterminated));

        await alice.ExpectErrorAsync(TooLong);
        Assert.That(await alice.WaitForClosedAsync(), Is.Empty);
        Assert.That(await bob.ReceiveAsync(), Is.EqualTo(new UserLeftMessage("alice")));
        await sending.ContinueWith(_ => { }, TaskScheduler.Default);
    }

    [Test]
    public async Task A_peer_that_keeps_blasting_after_an_over_long_line_is_cut_off_after_the_linger_bound_and_still_reads_the_error()
    {
        await using var broker = await TestBroker.StartAsync(o => o with { MaxLineLength = Limit });
        using var gauges = new BrokerGauges(broker);
        await using var alice = await RawClient.JoinAsync(broker.LocalEndPoint, "alice");
        var received = gauges.Total("chatmesh.bytes.received");

        // The over-long line, then garbage as fast as the socket takes it, until the broker cuts
        // the connection: without a byte bound it would read and discard for the whole 2 s
        // (2.2 GB in one run here).
        var overLong = Encoding.UTF8.GetBytes("{\"type\":\"chat\",\"text\":\"" + new string('x', Limit));
        var garbage = new byte[64 * 1024];
        garbage.AsSpan().Fill((byte)'x');
        var blasting = Task.Run(async () =>
        {
            await alice.SendAsync(overLong);
            while (true)
            {
                await alice.Socket.SendAsync(garbage, SocketFlags.None);
            }
        });

        await alice.ExpectErrorAsync(TooLong);
        Assert.That(await alice.WaitForClosedAsync(), Is.Empty);
        var ended = await blasting.ContinueWith(task => task.Exception?.InnerException, TaskScheduler.Default).WaitAsync(RawClient.Deadline);

        // What the broker read: the over-long line up to the limit plus one read, then at most the
        // linger's bound plus one read more.
        var read = gauges.Total("chatmesh.bytes.received") - received;
        Assert.Multiple(() =>
        {
            Assert.That(ended, Is.InstanceOf<SocketException>(), "the broker closed the connection while the peer was still sending");
            Assert.That(read, Is.LessThanOrEqualTo(overLong.Length + TcpConnection.LingerMaxBytes + (2 * garbage.Length)));
            Assert.That(read, Is.GreaterThan(TcpConnection.LingerMaxBytes), "the broker lingered before closing");
        });
    }

    /// <summary>A chat line of exactly <paramref name="length"/> bytes, newline excluded, and its text.</summary>
    private static (string Line, string Text) ChatLine(int length)
    {
        const string Prefix = "{\"type\":\"chat\",\"text\":\"";
        const string Suffix = "\"}";
        var text = new string('x', length - Prefix.Length - Suffix.Length);
        var line = Prefix + text + Suffix;
        Assert.That(Encoding.UTF8.GetByteCount(line), Is.EqualTo(length));
        return (line, text);
    }
}
