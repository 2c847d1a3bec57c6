using System.Globalization;
using LocalChatMesh.Protocol;
using LocalChatMesh.Tests.Support;

namespace LocalChatMesh.Tests.Broker;

public class OrderingTests
{
    [Test]
    public async Task Chats_from_each_sender_reach_every_client_in_the_order_sent()
    {
        const int Senders = 3;
        const int PerSender = 200;
        await using var broker = await TestBroker.StartAsync();
        var clients = new List<RawClient>();
        for (var i = 0; i < Senders; i++)
        {
            clients.Add(await RawClient.JoinAsync(broker.LocalEndPoint, $"s{i}"));
        }

        clients.Add(await RawClient.JoinAsync(broker.LocalEndPoint, "watcher"));
        try
        {
            // Drain the join notices so each client's next messages are chats only.
            for (var i = 0; i < clients.Count; i++)
            {
                if (i > 0)
                {
                    await clients[i].ExpectAsync<RosterMessage>();
                }

                for (var j = i + 1; j < clients.Count; j++)
                {
                    await clients[i].ExpectAsync<UserJoinedMessage>();
                }
            }

            var receiving = clients.Select(client => Task.Run(async () =>
            {
                var chats = new List<ChatBroadcastMessage>();
                while (chats.Count < Senders * PerSender)
                {
                    chats.Add(await client.ExpectAsync<ChatBroadcastMessage>());
                }

                return chats;
            })).ToList();
            var sending = clients.Take(Senders).Select(client => Task.Run(async () =>
            {
                for (var n = 0; n < PerSender; n++)
                {
                    await client.SendChatAsync(n.ToString(CultureInfo.InvariantCulture));
                }
            }));

            await Task.WhenAll(sending);
            var views = await Task.WhenAll(receiving);

            var expected = Enumerable.Range(0, PerSender).Select(n => n.ToString(CultureInfo.InvariantCulture)).ToList();
            for (var c = 0; c < views.Length; c++)
            {
                for (var s = 0; s < Senders; s++)
                {
                    var fromSender = views[c].Where(m => m.Nickname == $"s{s}").Select(m => m.Text);
                    Assert.That(fromSender, Is.EqualTo(expected), $"client {c}, sender s{s}");
                }
            }

            // The hub is one serialized step, so all clients even see the same interleaving.
            Assert.That(views, Has.All.EqualTo(views[0]));
        }
        finally
        {
            foreach (var client in clients)
            {
                await client.DisposeAsync();
            }
        }
    }
}
