using LocalChatMesh.Protocol;
using LocalChatMesh.Tests.Support;

namespace LocalChatMesh.Tests.Broker;

/// <summary>The rule itself runs on virtual time in the hub's tests; these prove the real-clock wiring.</summary>
public class HandshakeTimeoutTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMilliseconds(300);

    [Test]
    public async Task A_silent_connection_gets_an_error_then_close()
    {
        await using var broker = await TestBroker.StartAsync(o => o with { HandshakeTimeout = Timeout });
        using var events = new EventRecorder(broker);
        await using var client = await RawClient.ConnectAsync(broker.LocalEndPoint);

        var error = await client.ExpectAsync<ErrorMessage>();

        Assert.That(error.Message, Is.EqualTo("handshake timed out: no hello within 0.3 s"));
        Assert.That(await client.WaitForClosedAsync(), Is.Empty);
        var disconnected = await events.WaitForAsync<ClientDisconnectedEvent>();
        Assert.That(disconnected.Reason, Is.EqualTo(DisconnectReason.HandshakeTimeout));
    }

    [Test]
    public async Task Half_a_hello_does_not_stop_the_clock()
    {
        await using var broker = await TestBroker.StartAsync(o => o with { HandshakeTimeout = Timeout });
        await using var client = await RawClient.ConnectAsync(broker.LocalEndPoint);

        await client.SendAsync("{\"type\":\"hello\","u8.ToArray());
        await client.SendAsync("\"nickname\":"u8.ToArray());

        var messages = await client.WaitForClosedAsync();
        Assert.That(messages, Has.Count.EqualTo(1));
        Assert.That(messages[0], Is.InstanceOf<ErrorMessage>());
    }

    [Test]
    public async Task A_joined_client_is_not_timed_out()
    {
        await using var broker = await TestBroker.StartAsync(o => o with { HandshakeTimeout = Timeout });
        using var events = new EventRecorder(broker);
        await using var alice = await RawClient.JoinAsync(broker.LocalEndPoint, "alice");

        // A later silent connection is timed out; by then alice's own deadline has long passed.
        await using var silent = await RawClient.ConnectAsync(broker.LocalEndPoint);
        await silent.ExpectAsync<ErrorMessage>();
        await events.WaitForAsync<ClientDisconnectedEvent>(e => e.Reason == DisconnectReason.HandshakeTimeout);

        await alice.SendChatAsync("still here");
        await alice.ExpectChatAsync("alice", "still here");
        Assert.That(broker.Participants, Is.EqualTo(new[] { "alice" }));
    }
}
