using LocalChatMesh.Protocol;
using LocalChatMesh.Tests.Support;

namespace LocalChatMesh.Tests.Broker;

/// <summary>A client may vanish at any moment; it must leave no trace but a user_left for those who saw it join.</summary>
public class DisconnectTests
{
    [Test]
    public async Task Closing_before_hello_tells_nobody()
    {
        await using var broker = await TestBroker.StartAsync();
        using var events = new EventRecorder(broker);
        await using var bob = await RawClient.JoinAsync(broker.LocalEndPoint, "bob");

        var quitter = await RawClient.ConnectAsync(broker.LocalEndPoint);
        await quitter.DisposeAsync();

        var gone = await events.WaitForAsync<ClientDisconnectedEvent>();
        Assert.That(gone, Is.EqualTo(new ClientDisconnectedEvent(2, null, DisconnectReason.ClientClosed)));
        await AssertHeardNothingAsync(bob);
    }

    [Test]
    public async Task Closing_mid_hello_reserves_nothing()
    {
        await using var broker = await TestBroker.StartAsync();
        using var events = new EventRecorder(broker);
        await using var bob = await RawClient.JoinAsync(broker.LocalEndPoint, "bob");

        var quitter = await RawClient.ConnectAsync(broker.LocalEndPoint);
        await quitter.SendAsync("{\"type\":\"hello\",\"nickname\":\"carol\""u8.ToArray());
        await quitter.DisposeAsync();

        await events.WaitForAsync<ClientDisconnectedEvent>();
        await AssertHeardNothingAsync(bob);
        await using var carol = await RawClient.JoinAsync(broker.LocalEndPoint, "carol");
    }

    [Test]
    public async Task Closing_mid_chat_line_after_joining_sends_only_user_left()
    {
        await using var broker = await TestBroker.StartAsync();
        await using var bob = await RawClient.JoinAsync(broker.LocalEndPoint, "bob");
        var alice = await RawClient.JoinAsync(broker.LocalEndPoint, "alice");
        Assert.That(await bob.ReceiveAsync(), Is.EqualTo(new UserJoinedMessage("alice")));

        await alice.SendAsync("{\"type\":\"chat\",\"text\":\"half a li"u8.ToArray());
        await alice.DisposeAsync();

        Assert.That(await bob.ReceiveAsync(), Is.EqualTo(new UserLeftMessage("alice")));
        await using var alice2 = await RawClient.JoinAsync(broker.LocalEndPoint, "alice");
        Assert.That(await bob.ReceiveAsync(), Is.EqualTo(new UserJoinedMessage("alice")));
    }

    [Test]
    public async Task Closing_right_after_joining_frees_the_nickname()
    {
        await using var broker = await TestBroker.StartAsync();
        await using var bob = await RawClient.JoinAsync(broker.LocalEndPoint, "bob");

        // Close straight after sending hello, without waiting for the welcome.
        var alice = await RawClient.ConnectAsync(broker.LocalEndPoint);
        await alice.SendAsync(new HelloMessage("alice"));
        await alice.DisposeAsync();

        Assert.That(await bob.ReceiveAsync(), Is.EqualTo(new UserJoinedMessage("alice")));
        Assert.That(await bob.ReceiveAsync(), Is.EqualTo(new UserLeftMessage("alice")));
        await using var alice2 = await RawClient.JoinAsync(broker.LocalEndPoint, "alice");
        Assert.That(await bob.ReceiveAsync(), Is.EqualTo(new UserJoinedMessage("alice")));
    }

    [Test]
    public async Task A_reset_mid_line_frees_the_nickname_and_only_those_who_saw_the_join_hear_of_the_leave()
    {
        await using var broker = await TestBroker.StartAsync();
        using var events = new EventRecorder(broker);
        await using var bob = await RawClient.JoinAsync(broker.LocalEndPoint, "bob");
        var alice = await RawClient.JoinAsync(broker.LocalEndPoint, "alice");
        Assert.That(await bob.ReceiveAsync(), Is.EqualTo(new UserJoinedMessage("alice")));

        await alice.SendAsync("{\"type\":\"chat\",\"te"u8.ToArray());
        alice.Reset();

        Assert.That(await bob.ReceiveAsync(), Is.EqualTo(new UserLeftMessage("alice")));
        var gone = await events.WaitForAsync<ClientDisconnectedEvent>();
        Assert.That(gone.Nickname, Is.EqualTo("alice"));
        Assert.That(gone.Reason, Is.AnyOf(DisconnectReason.TransportError, DisconnectReason.ClientClosed));

        // Carol joined after alice left: she never hears of her.
        await using var carol = await RawClient.JoinAsync(broker.LocalEndPoint, "carol");
        Assert.That(await carol.ReceiveAsync(), Is.EqualTo(new RosterMessage(["bob"])));
        await AssertHeardNothingAsync(carol, "carol");
        await using var alice2 = await RawClient.JoinAsync(broker.LocalEndPoint, "alice");
        Assert.That(await alice2.ReceiveAsync(), Is.EqualTo(new RosterMessage(["bob", "carol"])));
    }

    [Test]
    public async Task A_reset_before_hello_tells_nobody()
    {
        await using var broker = await TestBroker.StartAsync();
        using var events = new EventRecorder(broker);
        await using var bob = await RawClient.JoinAsync(broker.LocalEndPoint, "bob");

        var quitter = await RawClient.ConnectAsync(broker.LocalEndPoint);
        await quitter.SendAsync("{\"type\":\"hel"u8.ToArray());
        quitter.Reset();

        var gone = await events.WaitForAsync<ClientDisconnectedEvent>();
        Assert.That(gone.Nickname, Is.Null);
        await AssertHeardNothingAsync(bob);
    }

    [Test]
    public async Task Closing_with_a_full_queue_frees_the_nickname_and_the_others_hear_of_it()
    {
        await using var broker = await TestBroker.StartAsync(o => o with
        {
            OutboundSoftLimitBytes = 16 * 1024,
            OutboundHardLimitBytes = 64 * 1024,
            LagGrace = TimeSpan.FromMilliseconds(500),
            DisconnectGrace = TimeSpan.FromSeconds(30),
        });
        using var events = new EventRecorder(broker);
        await using var bob = await RawClient.JoinAsync(broker.LocalEndPoint, "bob");
        var stuck = await RawClient.JoinAsync(broker.LocalEndPoint, "stuck", receiveBufferSize: 4096);
        Assert.That(await bob.ReceiveAsync(), Is.EqualTo(new UserJoinedMessage("stuck")));

        // Bob chats until stuck's queue is at its limit (it lags), reading his own echo as he goes.
        var text = new string('x', 1000);
        var lagging = events.WaitForAsync<ClientLaggingEvent>();
        var sent = 0;
        while (!lagging.IsCompleted)
        {
            await bob.SendChatAsync(text);
            await bob.ExpectChatAsync("bob", text);
            sent++;
            Assert.That(sent, Is.LessThan(100_000), "stuck never lagged");
        }

        await lagging;
        stuck.Reset();

        Assert.That(await bob.ReceiveAsync(), Is.EqualTo(new UserLeftMessage("stuck")));
        var gone = await events.WaitForAsync<ClientDisconnectedEvent>();
        Assert.That(gone.Nickname, Is.EqualTo("stuck"));
        await using var again = await RawClient.JoinAsync(broker.LocalEndPoint, "stuck");
        Assert.That(await bob.ReceiveAsync(), Is.EqualTo(new UserJoinedMessage("stuck")));
    }

    /// <summary>Proves a client got nothing: a marker it sends itself is the next thing it hears.</summary>
    private static async Task AssertHeardNothingAsync(RawClient client, string nickname = "bob")
    {
        await client.SendChatAsync("marker");
        Assert.That(await client.ReceiveAsync(), Is.EqualTo(new ChatBroadcastMessage(nickname, "marker")));
    }
}
