using System.Net.Sockets;
using LocalChatMesh.Protocol;
using LocalChatMesh.Tests.Support;

namespace LocalChatMesh.Tests.Broker;

public class ShutdownTests
{
    [Test]
    [Repeat(3)]
    public async Task Every_client_hears_the_broker_is_shutting_down_before_it_closes_and_nothing_connects_afterwards()
    {
        var broker = await TestBroker.StartAsync();
        var endPoint = broker.LocalEndPoint;
        using var events = new EventRecorder(broker);
        var clients = new List<RawClient>();
        try
        {
            clients.Add(await RawClient.JoinAsync(endPoint, "alice"));
            clients.Add(await RawClient.JoinAsync(endPoint, "bob"));
            clients.Add(await RawClient.JoinAsync(endPoint, "carol"));

            // Two are mid-handshake: one silent, one halfway through its hello.
            clients.Add(await RawClient.ConnectAsync(endPoint));
            var halfway = await RawClient.ConnectAsync(endPoint);
            clients.Add(halfway);
            await halfway.SendAsync("{\"type\":\"hello\",\"nick"u8.ToArray());
            await events.WaitForCountAsync<ClientConnectedEvent>(5);

            var stopping = broker.StopAsync();
            var heard = await Task.WhenAll(clients.Select(async client =>
            {
                // A client closes its side once the broker has closed, as a real one would.
                var messages = await client.WaitForClosedAsync();
                await client.DisposeAsync();
                return messages;
            }));
            await stopping.WaitAsync(RawClient.Deadline);

            for (var i = 0; i < clients.Count; i++)
            {
                // Whatever join notices came before, the last thing each heard is the notice.
                Assert.That(heard[i], Is.Not.Empty, $"client {i}");
                Assert.That(heard[i][^1], Is.EqualTo(new ErrorMessage("broker shutting down")), $"client {i}");
                Assert.That(heard[i].OfType<UserLeftMessage>(), Is.Empty, $"client {i}: nobody left, the broker stopped");
            }

            Assert.That(broker.Completion.IsCompleted, Is.True);
            using var late = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            var refused = Assert.CatchAsync<SocketException>(async () => await late.ConnectAsync(endPoint));
            Assert.That(refused!.SocketErrorCode, Is.EqualTo(SocketError.ConnectionRefused));
        }
        finally
        {
            foreach (var client in clients)
            {
                await client.DisposeAsync();
            }

            await broker.DisposeAsync();
        }
    }

    [Test]
    public async Task Stop_delivers_what_was_queued_before_the_notice()
    {
        var broker = await TestBroker.StartAsync();
        await using var alice = await RawClient.JoinAsync(broker.LocalEndPoint, "alice");
        await using var bob = await RawClient.JoinAsync(broker.LocalEndPoint, "bob");
        await bob.ExpectAsync<RosterMessage>();
        for (var n = 0; n < 100; n++)
        {
            await alice.SendChatAsync($"chat {n}");
        }

        // Bob has not read any of it yet; the last chat is in the broker's hands before stopping.
        var aliceGot = new List<ServerMessage>();
        while (aliceGot.LastOrDefault() != new ChatBroadcastMessage("alice", "chat 99"))
        {
            aliceGot.Add(await alice.ReceiveAsync());
        }

        var stopping = broker.StopAsync();
        await alice.WaitForClosedAsync();
        await alice.DisposeAsync();
        var heard = await bob.WaitForClosedAsync();
        await bob.DisposeAsync();
        await stopping.WaitAsync(RawClient.Deadline);
        Assert.That(heard, Is.EqualTo(Enumerable.Range(0, 100).Select(n => (ServerMessage)new ChatBroadcastMessage("alice", $"chat {n}")).Append(new ErrorMessage("broker shutting down"))));
        await broker.DisposeAsync();
    }
}
