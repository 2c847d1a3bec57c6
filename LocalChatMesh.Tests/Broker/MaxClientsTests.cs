using LocalChatMesh.Protocol;
using LocalChatMesh.Tests.Support;

namespace LocalChatMesh.Tests.Broker;

public class MaxClientsTests
{
    [Test]
    public async Task One_connection_over_the_limit_is_told_the_server_is_full_and_closed_until_a_place_frees_up()
    {
        await using var broker = await TestBroker.StartAsync(o => o with { MaxClients = 2 });
        using var events = new EventRecorder(broker);
        var alice = await RawClient.JoinAsync(broker.LocalEndPoint, "alice");

        // Bob has not said hello yet: a connection mid-handshake takes a place too.
        await using var bob = await RawClient.ConnectAsync(broker.LocalEndPoint);
        await events.WaitForCountAsync<ClientConnectedEvent>(2);

        await using (var third = await RawClient.ConnectAsync(broker.LocalEndPoint))
        {
            await third.ExpectErrorAsync("server is full");
            Assert.That(await third.WaitForClosedAsync(), Is.Empty);
        }

        var refused = await events.WaitForAsync<ClientDisconnectedEvent>();
        Assert.That(refused, Is.EqualTo(new ClientDisconnectedEvent(3, null, DisconnectReason.ServerFull)));

        await alice.DisposeAsync();
        await events.WaitForAsync<ClientDisconnectedEvent>(e => e.Nickname == "alice");

        await using var carol = await RawClient.JoinAsync(broker.LocalEndPoint, "carol");
        await bob.SendAsync(new HelloMessage("bob"));
        await bob.ExpectAsync<WelcomeMessage>();
        Assert.That(await bob.ReceiveAsync(), Is.EqualTo(new RosterMessage(["carol"])));
        Assert.That(broker.Participants, Is.EqualTo(new[] { "carol", "bob" }));
    }
}
