using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using LocalChatMesh.Protocol;
using LocalChatMesh.Tests.Support;

namespace LocalChatMesh.Tests.Client;

/// <summary>The client's version 2 flows against the real broker on loopback (its hub, its transport).</summary>
public class ChatClientBrokerV2Tests
{
    private static readonly TimeSpan Deadline = FakeBroker.Deadline;
    private static readonly ChatClientOptions V2 = new() { Capabilities = ChatCapabilities.All };

    [Test]
    public async Task The_broker_grants_what_is_asked_with_a_session_and_its_line_limit()
    {
        await using var broker = await TestBroker.StartAsync();
        await using var client = await ChatClient.ConnectAsync(broker.LocalEndPoint.ToString(), "alice", V2).WaitAsync(Deadline);

        Assert.That(client.Capabilities, Is.EquivalentTo(ChatCapabilities.All));
        Assert.That(client.Session, Is.Not.Null.And.Length.GreaterThanOrEqualTo(16));
        Assert.That(client.ServerMaxLineLength, Is.EqualTo(TestBroker.Options.MaxLineLength));
        Assert.That(client.Rooms, Is.Empty, "a rooms client starts in no room");
    }

    [Test]
    public async Task A_default_client_is_version_1_and_lives_in_the_lobby()
    {
        await using var broker = await TestBroker.StartAsync();
        await using var bob = await ChatClient.ConnectAsync(broker.LocalEndPoint, "bob").WaitAsync(Deadline);
        var bobSees = bob.Messages.Take(2).ToList().ToTask();
        await using var alice = await ChatClient.ConnectAsync(broker.LocalEndPoint, "alice").WaitAsync(Deadline);
        var roster = await alice.ParticipantsChanged.FirstAsync(list => list.Count == 1).ToTask().WaitAsync(Deadline);

        await alice.SendAsync("hello");

        Assert.That(alice.Capabilities, Is.Empty);
        Assert.That(alice.Session, Is.Null);
        Assert.That(roster, Is.EqualTo(new[] { "bob" }));
        Assert.That(await bobSees.WaitAsync(Deadline), Is.EqualTo(new ServerMessage[] { new UserJoinedMessage("alice"), new ChatBroadcastMessage("alice", "hello") }));
        Assert.ThrowsAsync<ChatCapabilityException>(() => alice.JoinAsync("dev"));
    }

    [Test]
    public async Task Two_clients_join_a_room_chat_in_it_and_see_each_other_come_and_go()
    {
        await using var broker = await TestBroker.StartAsync();
        await using var alice = await ChatClient.ConnectAsync(broker.LocalEndPoint, "alice", V2).WaitAsync(Deadline);
        await using var bob = await ChatClient.ConnectAsync(broker.LocalEndPoint, "bob", V2).WaitAsync(Deadline);

        var aliceDev = await alice.JoinAsync("Dev").WaitAsync(Deadline);
        var bobArrives = aliceDev.ParticipantsChanged.FirstAsync(list => list.Contains("bob")).ToTask();
        var bobDev = await bob.JoinAsync("dev").WaitAsync(Deadline);
        await bobArrives.WaitAsync(Deadline);

        Assert.That(aliceDev.Name, Is.EqualTo("Dev"));
        Assert.That(bobDev.Name, Is.EqualTo("Dev"), "a room is shown as first spelled");
        Assert.That(aliceDev.Participants, Is.EqualTo(new[] { "bob" }));
        Assert.That(bobDev.Participants, Is.EqualTo(new[] { "alice" }));

        // Two connections' lines have no order between them until the broker has read one:
        // alice answers once she has heard bob.
        var aliceHears = aliceDev.ReadMessagesAsync().Take(2).ToListAsync().AsTask();
        var bobHeard = aliceDev.Messages.FirstAsync().ToTask();
        await bobDev.SendAsync("hi alice");
        await bobHeard.WaitAsync(Deadline);
        await aliceDev.SendAsync("hi bob");
        var heard = await aliceHears.WaitAsync(Deadline);
        Assert.That(heard.Select(m => (m.Nickname, m.Text, m.Room)), Is.EqualTo(new[] { ("bob", "hi alice", "Dev"), ("alice", "hi bob", "Dev") }));
        Assert.That(heard.Select(m => m.Id), Is.All.Not.Null, "meta: every chat has an id");
        Assert.That(heard[1].Id, Is.GreaterThan(heard[0].Id!.Value));

        Assert.That(await alice.WhoAsync("dev").WaitAsync(Deadline), Is.EqualTo(new[] { "alice", "bob" }));
        Assert.That(await alice.ListRoomsAsync().WaitAsync(Deadline), Does.Contain(new RoomSummary("Dev", 2)));

        var bobLeaves = aliceDev.ParticipantsChanged.FirstAsync(list => list.Count == 0).ToTask();
        await bobDev.LeaveAsync().WaitAsync(Deadline);
        await bobLeaves.WaitAsync(Deadline);
        Assert.That(await bobDev.Completion.WaitAsync(Deadline), Is.EqualTo(ChatRoomCloseReason.LeftByClient));
        Assert.That(bob.Rooms, Is.Empty);
    }

    [Test]
    public async Task Connect_join_send_then_subscribe_loses_nothing_history_included()
    {
        await using var broker = await TestBroker.StartAsync();
        await using var bob = await ChatClient.ConnectAsync(broker.LocalEndPoint, "bob", V2).WaitAsync(Deadline);
        var bobDev = await bob.JoinAsync("dev").WaitAsync(Deadline);
        var bobHears = bobDev.Messages.Take(3).ToList().ToTask();
        for (var i = 1; i <= 3; i++)
        {
            await bobDev.SendAsync($"old {i}");
        }

        await bobHears.WaitAsync(Deadline);

        await using var alice = await ChatClient.ConnectAsync(broker.LocalEndPoint, "alice", V2).WaitAsync(Deadline);
        var dev = await alice.JoinAsync("dev", new ChatJoinOptions { History = 2 }).WaitAsync(Deadline);
        var echoed = alice.Messages.OfType<ChatBroadcastMessage>().FirstAsync(m => m.Text == "new").ToTask();
        await dev.SendAsync("new");
        await echoed.WaitAsync(Deadline);

        // Nothing consumed the room until now.
        var received = await dev.Messages.Take(3).ToList().ToTask().WaitAsync(Deadline);

        Assert.That(received.Select(m => (m.Text, m.History)), Is.EqualTo(new[] { ("old 2", (bool?)true), ("old 3", true), ("new", null) }));
        Assert.That(dev.Joined.LastId, Is.EqualTo(received[1].Id));
        Assert.That(dev.Joined.Epoch, Is.Not.Null);
    }

    [Test]
    public async Task Resume_after_an_id_replays_what_was_missed()
    {
        await using var broker = await TestBroker.StartAsync();
        await using var bob = await ChatClient.ConnectAsync(broker.LocalEndPoint, "bob", V2).WaitAsync(Deadline);
        var bobDev = await bob.JoinAsync("dev").WaitAsync(Deadline);
        await using var alice = await ChatClient.ConnectAsync(broker.LocalEndPoint, "alice", V2).WaitAsync(Deadline);
        var dev = await alice.JoinAsync("dev").WaitAsync(Deadline);
        var seen = dev.Messages.Take(1).ToList().ToTask();
        await bobDev.SendAsync("seen");
        var last = (await seen.WaitAsync(Deadline))[0];
        await dev.LeaveAsync().WaitAsync(Deadline);

        var bobHears = bobDev.Messages.Take(2).ToList().ToTask();
        await bobDev.SendAsync("missed 1");
        await bobDev.SendAsync("missed 2");
        await bobHears.WaitAsync(Deadline);
        var back = await alice.JoinAsync("dev", new ChatJoinOptions { After = last.Id, Epoch = dev.Joined.Epoch }).WaitAsync(Deadline);
        var replayed = await back.Messages.Take(2).ToList().ToTask().WaitAsync(Deadline);

        Assert.That(back.Joined.Recovered, Is.True);
        Assert.That(replayed.Select(m => m.Text), Is.EqualTo(new[] { "missed 1", "missed 2" }));
    }

    [Test]
    public async Task With_a_store_the_room_state_kept_by_the_client_resumes_across_a_broker_restart()
    {
        using var directory = new Storage.StoreDirectory();
        ChatRoom before;
        ChatBroadcastMessage lastSeen;
        await using (var broker = await TestBroker.StartAsync(options => options with { Store = new LocalChatMesh.Storage.Sqlite.SqliteChatStore(directory.File()) }))
        {
            await using var alice = await ChatClient.ConnectAsync(broker.LocalEndPoint, "alice", V2).WaitAsync(Deadline);
            before = await alice.JoinAsync("dev").WaitAsync(Deadline);
            var seen = before.Messages.Take(1).ToList().ToTask();
            await before.SendAsync("before the restart");
            lastSeen = (await seen.WaitAsync(Deadline))[0];
        }

        await using (var broker = await TestBroker.StartAsync(options => options with { Store = new LocalChatMesh.Storage.Sqlite.SqliteChatStore(directory.File()) }))
        {
            await using var bob = await ChatClient.ConnectAsync(broker.LocalEndPoint, "bob", V2).WaitAsync(Deadline);
            var bobDev = await bob.JoinAsync("dev").WaitAsync(Deadline);
            var bobHears = bobDev.Messages.Take(1).ToList().ToTask();
            await bobDev.SendAsync("while alice was away");
            await bobHears.WaitAsync(Deadline);

            await using var alice = await ChatClient.ConnectAsync(broker.LocalEndPoint, "alice", V2).WaitAsync(Deadline);
            var after = await alice.JoinAsync("dev", new ChatJoinOptions { After = before.LastSeenId, Epoch = before.Epoch }).WaitAsync(Deadline);
            var missed = await after.Messages.Take(1).ToList().ToTask().WaitAsync(Deadline);

            Assert.That(before.LastSeenId, Is.EqualTo(lastSeen.Id));
            Assert.That(after.Joined.Recovered, Is.True);
            Assert.That(after.Epoch, Is.EqualTo(before.Epoch));
            Assert.That(missed.Select(m => (m.Nickname, m.Text)), Is.EqualTo(new[] { ("bob", "while alice was away") }));
            Assert.That(missed[0].Id, Is.GreaterThan(lastSeen.Id!.Value));
        }
    }

    [Test]
    public async Task Refused_requests_throw_with_the_brokers_text()
    {
        await using var broker = await TestBroker.StartAsync();
        await using var alice = await ChatClient.ConnectAsync(broker.LocalEndPoint, "alice", V2).WaitAsync(Deadline);
        await alice.JoinAsync("dev").WaitAsync(Deadline);

        var invalid = Assert.ThrowsAsync<ChatRequestException>(() => alice.JoinAsync("not a room!").WaitAsync(Deadline));
        var twice = Assert.ThrowsAsync<ChatRequestException>(() => alice.JoinAsync("DEV").WaitAsync(Deadline));
        var who = Assert.ThrowsAsync<ChatRequestException>(() => alice.WhoAsync("ops").WaitAsync(Deadline));

        Assert.That(invalid.ServerMessage, Is.EqualTo("invalid room name"));
        Assert.That(twice.ServerMessage, Does.StartWith("already in room '").IgnoreCase.And.EndWith("dev'").IgnoreCase);
        Assert.That(who.ServerMessage, Is.EqualTo("not in room 'ops'"));
        Assert.That(alice.Rooms.Select(room => room.Name), Is.EqualTo(new[] { "dev" }));
    }

    [Test]
    public async Task Direct_messages_reach_the_recipient_and_come_back_to_the_sender()
    {
        await using var broker = await TestBroker.StartAsync();
        await using var alice = await ChatClient.ConnectAsync(broker.LocalEndPoint, "alice", V2).WaitAsync(Deadline);
        await using var bob = await ChatClient.ConnectAsync(broker.LocalEndPoint, "bob", V2).WaitAsync(Deadline);
        await using var carol = await ChatClient.ConnectAsync(broker.LocalEndPoint, "carol").WaitAsync(Deadline);
        var bobGets = bob.ReadDirectMessagesAsync().FirstAsync().AsTask();
        var aliceGets = alice.DirectMessages.FirstAsync().ToTask();
        var errors = alice.Messages.OfType<ErrorMessage>().Take(2).ToList().ToTask();

        await alice.SendDirectAsync("Bob", "psst");
        await alice.SendDirectAsync("nobody", "hello?");
        await alice.SendDirectAsync("carol", "v1?");

        var delivered = await bobGets.WaitAsync(Deadline);
        Assert.That((delivered.From, delivered.To, delivered.Text), Is.EqualTo(("alice", "bob", "psst")));
        Assert.That(delivered.Id, Is.Not.Null);
        Assert.That(await aliceGets.WaitAsync(Deadline), Is.EqualTo(delivered));
        Assert.That(await errors.WaitAsync(Deadline), Is.EqualTo(new[] { new ErrorMessage("no such user 'nobody'"), new ErrorMessage("'carol' cannot receive direct messages") }));
    }

    [Test]
    public async Task A_version_2_client_in_the_lobby_chats_with_a_version_1_client()
    {
        await using var broker = await TestBroker.StartAsync();
        await using var carol = await ChatClient.ConnectAsync(broker.LocalEndPoint, "carol").WaitAsync(Deadline);
        var carolSees = carol.Messages.Take(2).ToList().ToTask();
        await using var alice = await ChatClient.ConnectAsync(broker.LocalEndPoint, "alice", V2).WaitAsync(Deadline);

        var lobby = await alice.JoinAsync("lobby").WaitAsync(Deadline);
        await lobby.SendAsync("hi carol");

        Assert.That(lobby.Participants, Is.EqualTo(new[] { "carol" }));
        Assert.That(await carolSees.WaitAsync(Deadline), Is.EqualTo(new ServerMessage[] { new UserJoinedMessage("alice"), new ChatBroadcastMessage("alice", "hi carol") }));
    }

    [Test]
    public async Task A_session_takes_the_nickname_back_from_a_connection_still_held()
    {
        await using var broker = await TestBroker.StartAsync();
        await using var first = await ChatClient.ConnectAsync(broker.LocalEndPoint, "alice", V2).WaitAsync(Deadline);
        var firstSees = first.Messages.ToList().ToTask();

        await using var second = await ChatClient.ConnectAsync(broker.LocalEndPoint, "alice", V2 with { Session = first.Session }).WaitAsync(Deadline);

        Assert.That(second.Nickname, Is.EqualTo("alice"));
        Assert.That(await firstSees.WaitAsync(Deadline), Does.Contain(new ErrorMessage("connection replaced")));
        Assert.That(await first.Completion.WaitAsync(Deadline), Is.EqualTo(ChatClientCloseReason.ClosedByServer));
    }

    [Test]
    public async Task Stopping_the_broker_ends_the_rooms_with_the_connection()
    {
        await using var broker = await TestBroker.StartAsync();
        await using var alice = await ChatClient.ConnectAsync(broker.LocalEndPoint, "alice", V2).WaitAsync(Deadline);
        var dev = await alice.JoinAsync("dev").WaitAsync(Deadline);
        var errors = alice.Messages.OfType<ErrorMessage>().ToList().ToTask();

        await broker.StopAsync().WaitAsync(Deadline);

        Assert.That(await dev.Completion.WaitAsync(Deadline), Is.EqualTo(ChatRoomCloseReason.ConnectionEnded));
        Assert.That(await errors.WaitAsync(Deadline), Is.EqualTo(new[] { new ErrorMessage("broker shutting down") }));
        Assert.That(alice.Rooms, Is.Empty);
    }
}
