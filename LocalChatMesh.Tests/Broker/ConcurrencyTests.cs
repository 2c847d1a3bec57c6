using System.Globalization;
using LocalChatMesh.Protocol;
using LocalChatMesh.Tests.Support;

namespace LocalChatMesh.Tests.Broker;

public class ConcurrencyTests
{
    private const int Clients = 50;
    private const int ChatsEach = 20;
    private const int Leavers = 5;

    /// <summary>
    /// 50 clients join at once and chat at once while some leave. The broker's events give its
    /// one serialized order; every client's view must be exactly that order from its own join on.
    /// </summary>
    [Test]
    public async Task Every_client_sees_one_consistent_order_of_joins_leaves_and_chats()
    {
        await using var broker = await TestBroker.StartAsync();
        using var events = new EventRecorder(broker);
        await using var anchor = await RawClient.JoinAsync(broker.LocalEndPoint, "anchor");

        var views = Enumerable.Range(0, Clients).Select(i => Task.Run(() => RunClientAsync(broker, i))).ToList();

        // Once every leaver has gone and every stayer has sent its chats, the anchor's "end" is the
        // last broadcast: whoever is still online sees it after everything else.
        await events.WaitForCountAsync<ClientDisconnectedEvent>(Leavers);
        await events.WaitForCountAsync<ChatEvent>(Clients * ChatsEach);
        await anchor.SendChatAsync("end");
        var results = await Task.WhenAll(views);
        try
        {
            Verify(events.Snapshot(), broker.Participants, results);
        }
        finally
        {
            foreach (var result in results)
            {
                await (result.Client?.DisposeAsync() ?? ValueTask.CompletedTask);
            }
        }
    }

    private static void Verify(IReadOnlyList<BrokerEvent> log, IReadOnlyList<string> online, (string Nickname, List<ServerMessage>? Messages, RawClient? Client)[] results)
    {
        Assert.That(online, Has.Count.EqualTo(Clients - Leavers + 1));
        foreach (var (nickname, messages, _) in results.Where(r => r.Messages is not null))
        {
            var joinedAt = log.Select((e, i) => (e, i)).Single(x => x.e is ClientJoinedEvent j && j.Nickname == nickname).i;

            // What the broker did after this client joined, as this client should have heard it.
            var expected = new List<ServerMessage>();
            foreach (var brokerEvent in log.Skip(joinedAt + 1).TakeWhile(e => e is not ChatEvent { Nickname: "anchor" }))
            {
                switch (brokerEvent)
                {
                    case ClientJoinedEvent joined:
                        expected.Add(new UserJoinedMessage(joined.Nickname));
                        break;
                    case ClientDisconnectedEvent { Nickname: { } left }:
                        expected.Add(new UserLeftMessage(left));
                        break;
                    case ChatEvent chat:
                        expected.Add(new ChatBroadcastMessage(chat.Nickname, chat.Text));
                        break;
                }
            }

            var roster = messages![0] is RosterMessage r ? r.Participants : [];
            var afterRoster = messages[0] is RosterMessage ? messages.Skip(1).ToList() : messages;
            Assert.That(afterRoster, Is.EqualTo(expected), $"{nickname}'s view");

            var others = new HashSet<string>(roster);
            foreach (var message in afterRoster)
            {
                if (message is UserJoinedMessage j)
                {
                    Assert.That(others.Add(j.Nickname), Is.True, $"{nickname} heard {j.Nickname} join twice");
                }
                else if (message is UserLeftMessage l)
                {
                    Assert.That(others.Remove(l.Nickname), Is.True, $"{nickname} heard {l.Nickname} leave without joining");
                }
            }

            Assert.That(others, Is.EquivalentTo(online.Where(n => n != nickname)), $"{nickname}'s roster + joins - leaves");

            // Each sender's chats arrive in order, every one of them sent after this client joined.
            foreach (var sender in afterRoster.OfType<ChatBroadcastMessage>().GroupBy(m => m.Nickname).Where(g => g.Key != "anchor"))
            {
                var numbers = sender.Select(m => int.Parse(m.Text, CultureInfo.InvariantCulture)).ToList();
                Assert.That(numbers, Is.EqualTo(Enumerable.Range(numbers[0], numbers.Count)), $"{nickname} hears {sender.Key} in order");
            }

            Assert.That(afterRoster.OfType<ChatBroadcastMessage>().Count(m => m.Nickname == nickname), Is.EqualTo(ChatsEach), $"{nickname} hears all its own chats");
        }
    }

    // Joins, sends its chats while reading, and either leaves (the first few) or reads until "end"
    // and stays online, so that the test can compare with the broker's participants.
    private static async Task<(string Nickname, List<ServerMessage>? Messages, RawClient? Client)> RunClientAsync(ChatBroker broker, int index)
    {
        var nickname = $"c{index:00}";
        var client = await RawClient.JoinAsync(broker.LocalEndPoint, nickname);
        var messages = new List<ServerMessage>();
        // A leaver reads until its own last chat comes back, so that all of it reached the broker
        // before it closes (closing with unread input resets the connection, and a reset may
        // discard what the broker had not read yet).
        var last = index < Leavers
            ? new ChatBroadcastMessage(nickname, (ChatsEach - 1).ToString(CultureInfo.InvariantCulture))
            : new ChatBroadcastMessage("anchor", "end");
        var reading = Task.Run(async () =>
        {
            while (await client.ReceiveAsync() is var message && message != last)
            {
                messages.Add(message);
            }
        });

        for (var n = 0; n < ChatsEach; n++)
        {
            await client.SendChatAsync(n.ToString(CultureInfo.InvariantCulture));
        }

        await reading;
        if (index < Leavers)
        {
            await client.DisposeAsync();
            return (nickname, null, null);
        }

        return (nickname, messages, client);
    }
}
