using System.Collections.Concurrent;
using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using LocalChatMesh.Cluster;
using LocalChatMesh.Cluster.Nats;
using LocalChatMesh.Protocol;
using LocalChatMesh.Storage;
using LocalChatMesh.Tests.Support;
using static LocalChatMesh.Tests.Cluster.ClusterTesting;

namespace LocalChatMesh.Tests.Cluster;

/// <summary>
/// Brokers wired to one cluster through a real nats-server: a client cannot tell which broker it is on
/// (PROTOCOL.md, "Several brokers, one chat"). Each test uses a cluster of its own on one server.
/// </summary>
public sealed class ClusterBrokerTests : NatsServerTests
{
    private static readonly ChatClientOptions V2 = new() { Capabilities = ChatCapabilities.All };
    [Test]
    public async Task Three_brokers_give_every_client_the_same_order_in_every_room()
    {
        await using var cluster = await ClusterOfBrokers.StartAsync(Server, 3);
        string[] rooms = ["lobby", "dev", "ops"];
        const int PerClient = 20;

        // Two clients per broker, each in every room.
        var clients = new List<ChatClient>();
        var joined = new List<ChatRoom>();
        for (var i = 0; i < 6; i++)
        {
            var client = await ChatClient.ConnectAsync(cluster[i % 3].LocalEndPoint, $"user{i}", V2).WaitAsync(Deadline);
            clients.Add(client);
            foreach (var room in rooms)
            {
                joined.Add(await client.JoinAsync(room).WaitAsync(Deadline));
            }
        }

        // Everybody sees everybody in every room, whichever broker they are on.
        foreach (var room in joined)
        {
            await room.ParticipantsChanged.StartWith(room.Participants).FirstAsync(list => list.Count == 5).ToTask().WaitAsync(Deadline);
        }

        var seen = joined.Select(room => (room, room.ReadMessagesAsync().Take(6 * PerClient).ToListAsync().AsTask())).ToList();
        await Task.WhenAll(clients.Select(async client =>
        {
            for (var n = 0; n < PerClient; n++)
            {
                foreach (var room in client.Rooms)
                {
                    await room.SendAsync($"{client.Nickname} {n}");
                }
            }
        }));

        foreach (var name in rooms)
        {
            var orders = new List<List<(long?, string, string)>>();
            foreach (var (room, reading) in seen.Where(pair => pair.room.Name == name))
            {
                var messages = await reading.WaitAsync(Deadline);
                orders.Add([.. messages.Select(message => (message.Id, message.Nickname, message.Text))]);
            }

            Assert.That(orders, Has.Count.EqualTo(6));
            foreach (var order in orders)
            {
                Assert.That(order, Is.EqualTo(orders[0]), $"room {name}: one order for every client on every broker");
            }

            Assert.That(orders[0].Select(message => message.Item1), Is.Ordered.Ascending.And.Unique, "ids increase in the room's order");
            foreach (var client in clients)
            {
                var own = orders[0].Where(message => message.Item2 == client.Nickname).Select(message => message.Item3);
                Assert.That(own, Is.EqualTo(Enumerable.Range(0, PerClient).Select(n => $"{client.Nickname} {n}")), "each sender's chats in the order sent");
            }
        }

        foreach (var client in clients)
        {
            await client.DisposeAsync();
        }
    }

    [Test]
    public async Task Rooms_who_and_presence_are_the_clusters()
    {
        await using var cluster = await ClusterOfBrokers.StartAsync(Server, 2);
        await using var alice = await ChatClient.ConnectAsync(cluster[0].LocalEndPoint, "alice", V2).WaitAsync(Deadline);
        await using var bob = await ChatClient.ConnectAsync(cluster[1].LocalEndPoint, "bob", V2).WaitAsync(Deadline);

        var aliceDev = await alice.JoinAsync("Dev").WaitAsync(Deadline);
        Assert.That(aliceDev.Participants, Is.Empty);
        var bobArrives = aliceDev.ParticipantsChanged.FirstAsync(list => list.Contains("bob")).ToTask();
        var bobDev = await bob.JoinAsync("dev").WaitAsync(Deadline);
        await bobArrives.WaitAsync(Deadline);

        Assert.That(bobDev.Participants, Is.EqualTo(new[] { "alice" }), "joined lists the member on the other broker");
        Assert.That(await bob.WhoAsync("dev").WaitAsync(Deadline), Is.EqualTo(new[] { "alice", "bob" }));
        Assert.That(await alice.ListRoomsAsync().WaitAsync(Deadline), Does.Contain(new RoomSummary("Dev", 2)));

        var bobLeaves = aliceDev.ParticipantsChanged.FirstAsync(list => list.Count == 0).ToTask();
        await bobDev.LeaveAsync().WaitAsync(Deadline);
        await bobLeaves.WaitAsync(Deadline);
        Assert.That(await alice.WhoAsync("dev").WaitAsync(Deadline), Is.EqualTo(new[] { "alice" }));
    }

    [Test]
    public async Task A_version_1_client_on_one_broker_chats_with_one_on_another_in_the_lobby()
    {
        await using var cluster = await ClusterOfBrokers.StartAsync(Server, 2);
        await using var bob = await ChatClient.ConnectAsync(cluster[1].LocalEndPoint, "bob").WaitAsync(Deadline);
        var bobSees = bob.Messages.Take(2).ToList().ToTask();
        await using var alice = await ChatClient.ConnectAsync(cluster[0].LocalEndPoint, "alice").WaitAsync(Deadline);
        var roster = await alice.ParticipantsChanged.FirstAsync(list => list.Count == 1).ToTask().WaitAsync(Deadline);

        await alice.SendAsync("hello");

        Assert.That(roster, Is.EqualTo(new[] { "bob" }), "the v1 roster after welcome lists the other broker's client");
        Assert.That(await bobSees.WaitAsync(Deadline), Is.EqualTo(new ServerMessage[] { new UserJoinedMessage("alice"), new ChatBroadcastMessage("alice", "hello") }), "exactly the v1 lines");
    }

    [Test]
    public async Task Two_hellos_with_one_nickname_at_once_on_two_brokers_one_wins()
    {
        await using var cluster = await ClusterOfBrokers.StartAsync(Server, 2);
        for (var round = 0; round < 5; round++)
        {
            var nickname = $"racer{round}";
            var attempts = await Task.WhenAll(cluster.Brokers.Select(async broker =>
            {
                try
                {
                    return (Client: await ChatClient.ConnectAsync(broker.LocalEndPoint, nickname, V2).WaitAsync(Deadline), Error: (string?)null);
                }
                catch (ChatHandshakeException refused)
                {
                    return (Client: (ChatClient?)null, Error: (string?)refused.Message);
                }
            }));

            Assert.That(attempts.Count(attempt => attempt.Client is not null), Is.EqualTo(1), $"round {round}: exactly one wins");
            Assert.That(attempts.Single(attempt => attempt.Client is null).Error, Does.Contain($"nickname '{nickname}' is already in use"));
            foreach (var attempt in attempts)
            {
                if (attempt.Client is { } client)
                {
                    await client.DisposeAsync();
                }
            }
        }

        // A nickname is free again once its holder left (case-insensitive, across brokers).
        await using var again = await EventuallyConnectAsync(cluster[1], "RACER0");
        Assert.That(again.Nickname, Is.EqualTo("RACER0"));
    }

    [Test]
    public async Task Direct_messages_reach_anyone_on_any_broker()
    {
        await using var cluster = await ClusterOfBrokers.StartAsync(Server, 2);
        await using var alice = await ChatClient.ConnectAsync(cluster[0].LocalEndPoint, "alice", V2).WaitAsync(Deadline);
        await using var bob = await ChatClient.ConnectAsync(cluster[1].LocalEndPoint, "bob", V2).WaitAsync(Deadline);
        await using var carol = await ChatClient.ConnectAsync(cluster[1].LocalEndPoint, "carol").WaitAsync(Deadline);

        var bobGets = bob.DirectMessages.FirstAsync().ToTask();
        var aliceGets = alice.DirectMessages.FirstAsync().ToTask();
        await alice.SendDirectAsync("Bob", "psst");
        var received = await bobGets.WaitAsync(Deadline);
        var echoed = await aliceGets.WaitAsync(Deadline);

        Assert.That((received.From, received.To, received.Text), Is.EqualTo(("alice", "bob", "psst")));
        Assert.That(echoed, Is.EqualTo(received), "both ends get the same message, id and time included");
        Assert.That(received.Id, Is.Positive);

        // Refusals come back whether the recipient is on the other broker or on the sender's own.
        await using var dave = await ChatClient.ConnectAsync(cluster[0].LocalEndPoint, "dave").WaitAsync(Deadline);
        var errors = alice.Messages.OfType<ErrorMessage>().Take(3).ToList().ToTask();
        await alice.SendDirectAsync("nobody", "hello?");
        await alice.SendDirectAsync("carol", "hello?");
        await alice.SendDirectAsync("dave", "hello?");
        Assert.That((await errors.WaitAsync(Deadline)).Select(error => error.Message), Is.EqualTo(new[] { "no such user 'nobody'", "'carol' cannot receive direct messages", "'dave' cannot receive direct messages" }));

        var second = bob.DirectMessages.FirstAsync().ToTask();
        await alice.SendDirectAsync("bob", "again");
        Assert.That((await second.WaitAsync(Deadline)).Id, Is.GreaterThan(received.Id), "direct ids increase in the cluster");
    }

    [Test]
    public async Task History_and_resume_work_on_another_broker()
    {
        await using var cluster = await ClusterOfBrokers.StartAsync(Server, 2);
        await using var alice = await ChatClient.ConnectAsync(cluster[0].LocalEndPoint, "alice", V2).WaitAsync(Deadline);
        var dev = await alice.JoinAsync("dev").WaitAsync(Deadline);
        var echoes = dev.ReadMessagesAsync().Take(5).ToListAsync().AsTask();
        for (var i = 0; i < 5; i++)
        {
            await dev.SendAsync($"m{i}");
        }

        var sent = await echoes.WaitAsync(Deadline);

        // A client on the other broker joins with history: the same ids, marked as history.
        await using var bob = await ChatClient.ConnectAsync(cluster[1].LocalEndPoint, "bob", V2).WaitAsync(Deadline);
        var replay = bob.Messages.OfType<ChatBroadcastMessage>().Take(3).ToList().ToTask();
        await bob.JoinAsync("dev", new ChatJoinOptions { History = 3 }).WaitAsync(Deadline);
        var replayed = await replay.WaitAsync(Deadline);
        Assert.That(replayed.Select(chat => (chat.Id, chat.Text, chat.History)), Is.EqualTo(sent.Skip(2).Select(chat => (chat.Id, chat.Text, (bool?)true))));

        // Resuming on the other broker after an id: exactly what came after it, with the cluster's epoch.
        await using var carol = await ChatClient.ConnectAsync(cluster[1].LocalEndPoint, "carol", V2).WaitAsync(Deadline);
        var resumed = carol.Messages.OfType<ChatBroadcastMessage>().Take(2).ToList().ToTask();
        var joinedLine = carol.Messages.OfType<JoinedMessage>().FirstAsync().ToTask();
        await carol.JoinAsync("dev", new ChatJoinOptions { After = sent[2].Id, Epoch = cluster.Engines[0].Epoch }).WaitAsync(Deadline);
        var joined = await joinedLine.WaitAsync(Deadline);
        Assert.That(joined.Recovered, Is.True);
        Assert.That(joined.Epoch, Is.EqualTo(cluster.Engines[1].Epoch), "one epoch for the cluster");
        Assert.That(joined.LastId, Is.EqualTo(sent[4].Id));
        Assert.That((await resumed.WaitAsync(Deadline)).Select(chat => chat.Text), Is.EqualTo(new[] { "m3", "m4" }));
    }

    [Test]
    public async Task A_broker_started_later_knows_the_rooms_rosters_and_history()
    {
        await using var cluster = await ClusterOfBrokers.StartAsync(Server, 1);
        await using var alice = await ChatClient.ConnectAsync(cluster[0].LocalEndPoint, "alice", V2).WaitAsync(Deadline);
        var dev = await alice.JoinAsync("dev").WaitAsync(Deadline);
        var echo = dev.Messages.FirstAsync().ToTask();
        await dev.SendAsync("before you came");
        await echo.WaitAsync(Deadline);

        var late = await cluster.AddBrokerAsync();
        await using var bob = await ChatClient.ConnectAsync(late.LocalEndPoint, "bob", V2).WaitAsync(Deadline);
        var replay = bob.Messages.OfType<ChatBroadcastMessage>().FirstAsync().ToTask();
        var bobDev = await bob.JoinAsync("dev", new ChatJoinOptions { History = 10 }).WaitAsync(Deadline);

        Assert.That(bobDev.Participants, Is.EqualTo(new[] { "alice" }));
        Assert.That((await replay.WaitAsync(Deadline)).Text, Is.EqualTo("before you came"));
    }

    [Test]
    public async Task A_broker_started_later_than_the_history_age_still_knows_who_joined_long_ago()
    {
        // The stream drops events older than the history age, presence too: the broker appends its
        // members' joins again at half that age, so the late broker below still finds alice.
        var age = TimeSpan.FromSeconds(6);
        await using var cluster = await ClusterOfBrokers.StartAsync(Server, 1, age);
        await using var alice = await ChatClient.ConnectAsync(cluster[0].LocalEndPoint, "alice", V2).WaitAsync(Deadline);
        await alice.JoinAsync("dev").WaitAsync(Deadline);
        var stream = cluster.Engines[0];
        var firstJoin = await stream.GetLastSequenceAsync(CancellationToken.None);

        // The stream holds nothing from alice's first join: only what came after it, if anything.
        var first = await AgedOutAsync(stream, firstJoin, age);
        Assert.That(first, Is.Zero.Or.GreaterThan(firstJoin), "the first join aged out of the stream");
        var late = await cluster.AddBrokerAsync();
        await using var bob = await ChatClient.ConnectAsync(late.LocalEndPoint, "bob", V2).WaitAsync(Deadline);
        var bobDev = await bob.JoinAsync("dev").WaitAsync(Deadline);

        Assert.That(bobDev.Participants, Is.EqualTo(new[] { "alice" }));
    }

    [Test]
    public async Task A_broker_starts_at_once_on_a_cluster_whose_events_all_aged_out()
    {
        var age = TimeSpan.FromSeconds(2);
        await using var cluster = await ClusterOfBrokers.StartAsync(Server, 1, age);
        await using (var alice = await ChatClient.ConnectAsync(cluster[0].LocalEndPoint, "alice", V2).WaitAsync(Deadline))
        {
            var dev = await alice.JoinAsync("dev").WaitAsync(Deadline);
            await dev.SendAsync("soon forgotten");
        }

        Assert.That(await AgedOutAsync(cluster.Engines[0], long.MaxValue, age), Is.Zero, "everything aged out of the stream");

        // Nothing is held, though the stream's last sequence is not 0: there is nothing to wait for.
        var late = await cluster.AddBrokerAsync().WaitAsync(Deadline);
        await using var bob = await ChatClient.ConnectAsync(late.LocalEndPoint, "bob", V2).WaitAsync(Deadline);
        var bobDev = await bob.JoinAsync("dev", new ChatJoinOptions { History = 10 }).WaitAsync(Deadline);
        Assert.That(bobDev.Participants, Is.Empty);
    }

    // alice on the first broker and bob on the second, both in dev, bob seen by alice. The caller
    // disposes alice; bob is the one whose broker goes away.
    private static async Task<(ChatClient Alice, ChatRoom Dev, ChatClient Bob)> AliceAndBobInDevAsync(ClusterOfBrokers cluster)
    {
        var alice = await ChatClient.ConnectAsync(cluster[0].LocalEndPoint, "alice", V2).WaitAsync(Deadline);
        var dev = await alice.JoinAsync("dev").WaitAsync(Deadline);
        var bob = await ChatClient.ConnectAsync(cluster[1].LocalEndPoint, "bob", V2).WaitAsync(Deadline);
        await bob.JoinAsync("dev").WaitAsync(Deadline);
        await dev.ParticipantsChanged.StartWith(dev.Participants).FirstAsync(list => list.Contains("bob")).ToTask().WaitAsync(Deadline);
        return (alice, dev, bob);
    }

    // Polls (JetStream has no event for an age-out) until the stream holds nothing at or before
    // `through`; returns the oldest sequence it holds then (0: none).
    private static async Task<long> AgedOutAsync(NatsClusterEngine engine, long through, TimeSpan age)
    {
        var deadline = DateTime.UtcNow + Deadline + age;
        var first = await FirstSequenceAsync(engine);
        while (first != 0 && first <= through && DateTime.UtcNow < deadline)
        {
            await Task.Delay(250);
            first = await FirstSequenceAsync(engine);
        }

        return first;
    }

    // The oldest sequence the cluster's stream still holds (0: none, nothing came within 5 s).
    private static async Task<long> FirstSequenceAsync(NatsClusterEngine engine)
    {
        using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            await foreach (var roomEvent in engine.ReadAllAsync(0, wait.Token))
            {
                return roomEvent.Sequence;
            }
        }
        catch (OperationCanceledException)
        {
        }

        return 0;
    }

    [Test]
    public async Task A_stopped_broker_frees_its_clients_nicknames_and_the_others_see_them_leave()
    {
        await using var cluster = await ClusterOfBrokers.StartAsync(Server, 2);
        var (alice, dev, bob) = await AliceAndBobInDevAsync(cluster);
        await using var _ = alice;

        var bobLeaves = dev.ParticipantsChanged.FirstAsync(list => !list.Contains("bob")).ToTask();
        await cluster[1].StopAsync();
        await bobLeaves.WaitAsync(Deadline);
        await bob.DisposeAsync();

        await using var again = await ChatClient.ConnectAsync(cluster[0].LocalEndPoint, "bob", V2).WaitAsync(Deadline);
        Assert.That(again.Nickname, Is.EqualTo("bob"), "the nickname was released at once");
    }

    [Test]
    public async Task A_dead_brokers_members_leave_within_the_heartbeat_timeout()
    {
        await using var cluster = await ClusterOfBrokers.StartAsync(Server, 2);
        var (alice, dev, bob) = await AliceAndBobInDevAsync(cluster);
        await using var _ = alice;

        // The engine goes without a goodbye (as in a crash); its broker can no longer reach the cluster.
        var bobLeaves = dev.ParticipantsChanged.FirstAsync(list => !list.Contains("bob")).ToTask();
        var started = DateTime.UtcNow;
        await cluster.Engines[1].AbandonAsync();
        await bobLeaves.WaitAsync(Deadline);
        var took = DateTime.UtcNow - started;
        TestContext.Out.WriteLine($"user_left after {took.TotalSeconds:0.0} s (heartbeat timeout 5 s, reaper every 250 ms)");
        Assert.That(await EventuallyConnectAsync(cluster[0], "bob"), Is.Not.Null, "its nickname is free");
        await bob.DisposeAsync();
    }

    [Test]
    public async Task A_session_takes_its_nickname_over_from_another_broker_at_once()
    {
        await using var cluster = await ClusterOfBrokers.StartAsync(Server, 2);
        await using var first = await ChatClient.ConnectAsync(cluster[0].LocalEndPoint, "alice", V2).WaitAsync(Deadline);
        var replaced = first.Messages.OfType<ErrorMessage>().FirstAsync().ToTask();

        await using var second = await ChatClient.ConnectAsync(cluster[1].LocalEndPoint, "alice", V2 with { Session = first.Session }).WaitAsync(Deadline);

        Assert.That(second.Nickname, Is.EqualTo("alice"));
        Assert.That((await replaced.WaitAsync(Deadline)).Message, Is.EqualTo("connection replaced"));
        Assert.That(second.Session, Is.EqualTo(first.Session), "the session carries on");
    }

    [Test]
    public async Task Losing_nats_keeps_clients_connected_tells_them_and_recovers()
    {
        await using var server = await NatsServerFixture.StartNewAsync();
        await using var cluster = await ClusterOfBrokers.StartAsync(server, 2);
        await using var alice = await ChatClient.ConnectAsync(cluster[0].LocalEndPoint, "alice", V2).WaitAsync(Deadline);
        await using var bob = await ChatClient.ConnectAsync(cluster[1].LocalEndPoint, "bob", V2).WaitAsync(Deadline);
        var aliceDev = await alice.JoinAsync("dev").WaitAsync(Deadline);
        var bobDev = await bob.JoinAsync("dev").WaitAsync(Deadline);
        await aliceDev.ParticipantsChanged.StartWith(aliceDev.Participants).FirstAsync(list => list.Contains("bob")).ToTask().WaitAsync(Deadline);

        var told = alice.Messages.OfType<ErrorMessage>().FirstAsync().ToTask();
        await server.StopAsync();
        Assert.That((await told.WaitAsync(Deadline)).Message, Is.EqualTo("cluster unavailable; messages are not being delivered"));

        // A chat meanwhile is refused out loud, never dropped silently.
        var refused = alice.Messages.OfType<ErrorMessage>().FirstAsync().ToTask();
        await aliceDev.SendAsync("into the void");
        Assert.That((await refused.WaitAsync(Deadline)).Message, Is.EqualTo("cluster unavailable; messages are not being delivered"));

        await server.StartAsync();
        var bobHears = bobDev.Messages.FirstAsync(chat => chat.Text == "back again").ToTask();
        Assert.That(await EventuallyAsync(async () =>
        {
            await aliceDev.SendAsync("back again");
            return await Task.WhenAny(bobHears, Task.Delay(500)) == bobHears;
        }), Is.True, "chat flows again once NATS is back");
        Assert.That(alice.Completion.IsCompleted || bob.Completion.IsCompleted, Is.False, "nobody was disconnected");
    }

    [Test]
    public async Task A_broker_cannot_start_without_its_cluster_and_not_with_a_store_too()
    {
        var options = Options(Server);
        await using var engine = await NatsClusterEngine.ConnectAsync(options);
        var store = new LocalChatMesh.Storage.InMemoryChatStore();
        var both = Assert.ThrowsAsync<ArgumentException>(() => ChatBroker.StartAsync(TestBroker.Options with { Cluster = engine, Store = store }));
        Assert.That(both!.Message, Does.Contain("cannot both be set"));

        var unreachable = Assert.ThrowsAsync<ClusterUnavailableException>(() => NatsClusterEngine.ConnectAsync(options with { Url = "nats://127.0.0.1:1", ConnectTimeout = TimeSpan.FromSeconds(1) }));
        Assert.That(unreachable!.Message, Does.StartWith("cannot reach the NATS server at nats://127.0.0.1:1"));
    }

    private static async Task<ChatClient> EventuallyConnectAsync(ChatBroker broker, string nickname)
    {
        var deadline = DateTime.UtcNow + Deadline;
        while (true)
        {
            try
            {
                return await ChatClient.ConnectAsync(broker.LocalEndPoint, nickname, V2).WaitAsync(Deadline);
            }
            catch (ChatHandshakeException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(100);
            }
        }
    }
}

/// <summary>Brokers of one cluster in this process, each with its own engine; disposed in reverse.</summary>
internal sealed class ClusterOfBrokers : IAsyncDisposable
{
    private readonly NatsServerFixture _server;
    private readonly string _name = NewClusterName();
    private readonly ConcurrentStack<IAsyncDisposable> _owned = new();
    private TimeSpan? _historyAge;

    private ClusterOfBrokers(NatsServerFixture server) => _server = server;

    public List<ChatBroker> Brokers { get; } = [];

    public List<NatsClusterEngine> Engines { get; } = [];

    public ChatBroker this[int index] => Brokers[index];

    public static async Task<ClusterOfBrokers> StartAsync(NatsServerFixture server, int count, TimeSpan? historyAge = null)
    {
        var cluster = new ClusterOfBrokers(server) { _historyAge = historyAge };
        for (var i = 0; i < count; i++)
        {
            await cluster.AddBrokerAsync();
        }

        return cluster;
    }

    public async Task<ChatBroker> AddBrokerAsync()
    {
        // A 5 s heartbeat timeout rather than the engine tests' 2 s: with three test processes on two
        // cores a renewal can stall for 2 s, and a broker reaped for that loses its clients mid-test.
        var options = Options(_server, _name) with { BrokerName = $"b{Brokers.Count}", HeartbeatTimeout = TimeSpan.FromSeconds(5) };
        if (_historyAge is { } age)
        {
            options = options with { History = new ChatStoreRetention(ChatStoreRetention.Default.MaxMessagesPerRoom, age) };
        }

        var engine = await NatsClusterEngine.ConnectAsync(options);
        _owned.Push(engine);
        var broker = await ChatBroker.StartAsync(TestBroker.Options with { Cluster = engine });
        _owned.Push(broker);
        Engines.Add(engine);
        Brokers.Add(broker);
        return broker;
    }

    public async ValueTask DisposeAsync()
    {
        while (_owned.TryPop(out var owned))
        {
            await owned.DisposeAsync();
        }
    }
}
