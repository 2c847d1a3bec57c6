using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using LocalChatMesh.Protocol;
using LocalChatMesh.Tests.Support;

namespace LocalChatMesh.Tests.Client;

public class ChatRoomTests
{
    private static readonly TimeSpan Deadline = FakeBroker.Deadline;

    [Test]
    public async Task Join_returns_the_room_as_the_broker_spelled_it_with_its_participants()
    {
        using var broker = FakeBroker.Start();
        var (client, connection) = await broker.ConnectAsync(ChatCapabilities.All);
        await using (client)
        using (connection)
        {
            var joining = client.JoinAsync("DEV", new ChatJoinOptions { History = 20 });
            var join = await connection.ReadMessageAsync<JoinMessage>();
            var joined = new JoinedMessage("dev", ["bob", "carol"]) { Epoch = "e1", LastId = 41 };
            await connection.SendAsync(joined);
            var room = await joining.WaitAsync(Deadline);

            Assert.Multiple(() =>
            {
                Assert.That(join, Is.EqualTo(new JoinMessage("DEV") { History = 20 }));
                Assert.That(room.Name, Is.EqualTo("dev"));
                Assert.That(room.Joined, Is.EqualTo(joined));
                Assert.That(room.Participants, Is.EqualTo(new[] { "bob", "carol" }));
                Assert.That(room.IsJoined, Is.True);
                Assert.That(room.Completion.IsCompleted, Is.False);
                Assert.That(client.Rooms, Is.EqualTo(new[] { room }));
                Assert.That(client.Participants, Is.Empty, "a rooms client is in no lobby");
            });
            connection.Close();
        }
    }

    [Test]
    public async Task Resume_sends_after_and_epoch()
    {
        using var broker = FakeBroker.Start();
        var (client, connection) = await broker.ConnectAsync(ChatCapabilities.All);
        await using (client)
        using (connection)
        {
            var joining = client.JoinAsync("dev", new ChatJoinOptions { After = 17, Epoch = "e1", History = 5 });

            Assert.That(await connection.ReadLineAsync(), Is.EqualTo("""{"type":"join","room":"dev","history":5,"after":17,"epoch":"e1"}"""));
            await connection.SendAsync(new JoinedMessage("dev", []) { Epoch = "e1", LastId = 20, Recovered = true });
            Assert.That((await joining.WaitAsync(Deadline)).Joined.Recovered, Is.True);
            connection.Close();
        }
    }

    [TestCase(true)]
    [TestCase(false)]
    public async Task Connect_join_send_then_subscribe_loses_nothing(bool push)
    {
        using var broker = FakeBroker.Start();
        var (client, connection) = await broker.ConnectAsync(ChatCapabilities.All);
        await using (client)
        using (connection)
        {
            var history = new[]
            {
                new ChatBroadcastMessage("bob", "old 1") { Room = "dev", Id = 1, History = true },
                new ChatBroadcastMessage("bob", "old 2") { Room = "dev", Id = 2, History = true },
            };
            var live = new ChatBroadcastMessage("carol", "live") { Room = "dev", Id = 3 };
            var room = await JoinAsync(client, connection, new JoinedMessage("dev", ["bob", "carol"]), [.. history, live]);

            await room.SendAsync("hi all");
            var sent = await connection.ReadMessageAsync<ChatMessage>();
            var echo = new ChatBroadcastMessage("alice", sent.Text) { Room = "dev", Id = 4 };
            await SendAndWaitAsync(client, connection, echo);

            // Only now does anything consume the room.
            var received = push
                ? await room.Messages.Take(4).ToList().ToTask().WaitAsync(Deadline)
                : await room.ReadMessagesAsync().Take(4).ToListAsync().AsTask().WaitAsync(Deadline);

            Assert.That(sent, Is.EqualTo(new ChatMessage("hi all") { Room = "dev" }));
            Assert.That(received, Is.EqualTo(new[] { history[0], history[1], live, echo }));
            Assert.That(room.Participants, Is.EqualTo(new[] { "bob", "carol" }));
            connection.Close();
        }
    }

    [Test]
    public async Task Only_the_first_consumer_gets_the_backlog_and_later_ones_see_from_when_they_attach()
    {
        using var broker = FakeBroker.Start();
        var (client, connection) = await broker.ConnectAsync(ChatCapabilities.All);
        await using (client)
        using (connection)
        {
            var early = new ChatBroadcastMessage("bob", "early") { Room = "dev" };
            var room = await JoinAsync(client, connection, new JoinedMessage("dev", ["bob"]), []);
            await SendAndWaitAsync(client, connection, early);

            var first = room.Messages.Take(2).ToList().ToTask();
            var second = room.Messages.Take(1).ToList().ToTask();
            var later = new ChatBroadcastMessage("bob", "later") { Room = "dev" };
            await connection.SendAsync(later);

            Assert.That(await first.WaitAsync(Deadline), Is.EqualTo(new[] { early, later }));
            Assert.That(await second.WaitAsync(Deadline), Is.EqualTo(new[] { later }));
            connection.Close();
        }
    }

    [Test]
    public async Task A_room_nobody_consumes_keeps_only_its_latest_messages()
    {
        using var broker = FakeBroker.Start();
        var (client, connection) = await broker.ConnectAsync(ChatCapabilities.All, options: new ChatClientOptions { ReadBufferCapacity = 4 });
        await using (client)
        using (connection)
        {
            var room = await JoinAsync(client, connection, new JoinedMessage("dev", []), []);
            var burst = Enumerable.Range(1, 50).Select(i => new ChatBroadcastMessage("bob", $"{i}") { Room = "dev", Id = i }).ToArray();

            // The client keeps reading for its own consumers although nobody reads the room.
            var all = client.Messages.OfType<ChatBroadcastMessage>().Take(burst.Length).ToList().ToTask();
            await connection.SendAsync(burst);
            Assert.That(await all.WaitAsync(Deadline), Is.EqualTo(burst));

            var kept = room.Messages.Take(4).ToList().ToTask();
            Assert.That(await kept.WaitAsync(Deadline), Is.EqualTo(burst[^4..]));
            connection.Close();
        }
    }

    [Test]
    public async Task Room_participants_follow_presence_in_that_room_only()
    {
        using var broker = FakeBroker.Start();
        var (client, connection) = await broker.ConnectAsync(ChatCapabilities.All);
        await using (client)
        using (connection)
        {
            var dev = await JoinAsync(client, connection, new JoinedMessage("dev", ["bob", "carol"]), []);
            var ops = await JoinAsync(client, connection, new JoinedMessage("ops", ["bob"]), []);
            var seen = new List<string[]>();
            using var changes = dev.ParticipantsChanged.Subscribe(list => seen.Add([.. list]));

            await SendAndWaitAsync(
                client,
                connection,
                new UserJoinedMessage("dave") { Room = "dev" },
                new UserJoinedMessage("erin") { Room = "ops" },
                new UserLeftMessage("bob") { Room = "DEV" },
                new UserLeftMessage("nobody") { Room = "dev" },
                new ChatBroadcastMessage("dave", "done") { Room = "dev" });

            Assert.That(seen, Is.EqualTo(new[]
            {
                new[] { "bob", "carol" },
                new[] { "bob", "carol", "dave" },
                new[] { "carol", "dave" },
            }));
            Assert.That(ops.Participants, Is.EqualTo(new[] { "bob", "erin" }));
            Assert.That(client.Participants, Is.Empty);
            connection.Close();
        }
    }

    [Test]
    public async Task Each_room_gets_its_own_chats_and_Messages_gets_everything()
    {
        using var broker = FakeBroker.Start();
        var (client, connection) = await broker.ConnectAsync(ChatCapabilities.All);
        await using (client)
        using (connection)
        {
            var all = client.Messages.Take(6).ToList().ToTask();
            var dev = await JoinAsync(client, connection, new JoinedMessage("dev", []), []);
            var ops = await JoinAsync(client, connection, new JoinedMessage("ops", []), []);
            var devChats = dev.Messages.Take(2).ToList().ToTask();
            var opsChats = ops.ReadMessagesAsync().Take(1).ToListAsync().AsTask();
            ServerMessage[] traffic =
            [
                new ChatBroadcastMessage("bob", "a") { Room = "dev" },
                new ChatBroadcastMessage("bob", "b") { Room = "ops" },
                new ChatBroadcastMessage("bob", "c") { Room = "Dev" },
                new ChatBroadcastMessage("bob", "lost?") { Room = "elsewhere" },
            ];

            await connection.SendAsync(traffic);

            Assert.That(await devChats.WaitAsync(Deadline), Is.EqualTo(new[] { traffic[0], traffic[2] }));
            Assert.That(await opsChats.WaitAsync(Deadline), Is.EqualTo(new[] { traffic[1] }));
            Assert.That(await all.WaitAsync(Deadline), Is.EqualTo((ServerMessage[])[dev.Joined, ops.Joined, .. traffic]));
            Assert.That(client.Rooms, Is.EqualTo(new[] { dev, ops }));
            connection.Close();
        }
    }

    [Test]
    public async Task Leave_waits_for_left_and_completes_the_rooms_streams()
    {
        using var broker = FakeBroker.Start();
        var (client, connection) = await broker.ConnectAsync(ChatCapabilities.All);
        await using (client)
        using (connection)
        {
            var room = await JoinAsync(client, connection, new JoinedMessage("dev", ["bob"]), []);
            var pushed = room.Messages.ToList().ToTask();
            var pulled = room.ReadMessagesAsync().ToListAsync().AsTask();
            var participantsDone = room.ParticipantsChanged.LastOrDefaultAsync().ToTask();

            var leaving = room.LeaveAsync();
            Assert.That(await connection.ReadMessageAsync<LeaveMessage>(), Is.EqualTo(new LeaveMessage("dev")));
            Assert.That(leaving.IsCompleted, Is.False, "leave waits for the broker's answer");
            await connection.SendAsync(new ChatBroadcastMessage("bob", "bye") { Room = "dev" }, new LeftMessage("dev"));
            await leaving.WaitAsync(Deadline);

            Assert.Multiple(async () =>
            {
                Assert.That(room.IsJoined, Is.False);
                Assert.That(await room.Completion.WaitAsync(Deadline), Is.EqualTo(ChatRoomCloseReason.LeftByClient));
                Assert.That(await pushed.WaitAsync(Deadline), Is.EqualTo(new[] { new ChatBroadcastMessage("bob", "bye") { Room = "dev" } }));
                Assert.That(await pulled.WaitAsync(Deadline), Has.Count.EqualTo(1));
                Assert.That(await participantsDone.WaitAsync(Deadline), Is.EqualTo(new[] { "bob" }));
                Assert.That(client.Rooms, Is.Empty);
                Assert.That(() => room.SendAsync("anyone?"), Throws.InvalidOperationException.With.Message.EqualTo("not in room 'dev' any more"));
            });

            // Leaving again, or disposing, asks nothing more of the broker.
            await room.LeaveAsync().WaitAsync(Deadline);
            await room.DisposeAsync().AsTask().WaitAsync(Deadline);
            await client.SendAsync("marker");
            Assert.That(await connection.ReadMessageAsync<ChatMessage>(), Is.EqualTo(new ChatMessage("marker")));
            connection.Close();
        }
    }

    [Test]
    public async Task Dispose_leaves_the_room()
    {
        using var broker = FakeBroker.Start();
        var (client, connection) = await broker.ConnectAsync(ChatCapabilities.All);
        await using (client)
        using (connection)
        {
            var room = await JoinAsync(client, connection, new JoinedMessage("dev", []), []);

            var disposing = room.DisposeAsync().AsTask();
            Assert.That(await connection.ReadMessageAsync<LeaveMessage>(), Is.EqualTo(new LeaveMessage("dev")));
            await connection.SendAsync(new LeftMessage("dev"));
            await disposing.WaitAsync(Deadline);

            Assert.That(await room.Completion.WaitAsync(Deadline), Is.EqualTo(ChatRoomCloseReason.LeftByClient));
            Assert.That(client.Rooms, Is.Empty);
            connection.Close();
        }
    }

    [Test]
    public async Task Dispose_lets_the_room_go_even_when_the_broker_does_not_answer()
    {
        using var broker = FakeBroker.Start();
        var (client, connection) = await broker.ConnectAsync(ChatCapabilities.All, options: new ChatClientOptions { RequestTimeout = TimeSpan.FromMilliseconds(300) });
        await using (client)
        using (connection)
        {
            var room = await JoinAsync(client, connection, new JoinedMessage("dev", []), []);
            var completed = room.Messages.LastOrDefaultAsync().ToTask();

            await room.DisposeAsync().AsTask().WaitAsync(Deadline);

            Assert.That(await connection.ReadMessageAsync<LeaveMessage>(), Is.EqualTo(new LeaveMessage("dev")));
            Assert.That(room.IsJoined, Is.False);
            Assert.That(await room.Completion.WaitAsync(Deadline), Is.EqualTo(ChatRoomCloseReason.LeftByClient));
            Assert.That(await completed.WaitAsync(Deadline), Is.Null);
            Assert.That(client.Rooms, Is.Empty);
            connection.Close();
        }
    }

    [Test]
    public async Task A_leave_answered_not_in_room_counts_as_left()
    {
        using var broker = FakeBroker.Start();
        var (client, connection) = await broker.ConnectAsync(ChatCapabilities.All);
        await using (client)
        using (connection)
        {
            var room = await JoinAsync(client, connection, new JoinedMessage("dev", []), []);

            var leaving = room.LeaveAsync();
            await connection.ReadMessageAsync<LeaveMessage>();
            await connection.SendAsync(new ErrorMessage("not in room 'dev'"));
            await leaving.WaitAsync(Deadline);

            Assert.That(await room.Completion.WaitAsync(Deadline), Is.EqualTo(ChatRoomCloseReason.LeftByClient));
            Assert.That(client.Rooms, Is.Empty);
            connection.Close();
        }
    }

    [Test]
    public async Task A_left_the_client_did_not_ask_for_means_the_broker_removed_it()
    {
        using var broker = FakeBroker.Start();
        var (client, connection) = await broker.ConnectAsync(ChatCapabilities.All);
        await using (client)
        using (connection)
        {
            var room = await JoinAsync(client, connection, new JoinedMessage("dev", []), []);
            var messages = room.Messages.ToList().ToTask();

            await connection.SendAsync(new LeftMessage("DEV"));

            Assert.That(await room.Completion.WaitAsync(Deadline), Is.EqualTo(ChatRoomCloseReason.RemovedByServer));
            Assert.That(await messages.WaitAsync(Deadline), Is.Empty);
            Assert.That(room.IsJoined, Is.False);
            Assert.That(client.Rooms, Is.Empty);
            connection.Close();
        }
    }

    [Test]
    public async Task When_the_connection_ends_cleanly_the_rooms_complete()
    {
        using var broker = FakeBroker.Start();
        var (client, connection) = await broker.ConnectAsync(ChatCapabilities.All);
        await using (client)
        using (connection)
        {
            var room = await JoinAsync(client, connection, new JoinedMessage("dev", []), []);
            var pushed = room.Messages.ToList().ToTask();

            connection.Close();

            Assert.That(await room.Completion.WaitAsync(Deadline), Is.EqualTo(ChatRoomCloseReason.ConnectionEnded));
            Assert.That(await pushed.WaitAsync(Deadline), Is.Empty);
            Assert.That(client.Rooms, Is.Empty);
            Assert.That(() => room.SendAsync("anyone?"), Throws.InvalidOperationException);
        }
    }

    [Test]
    public async Task When_the_connection_fails_the_rooms_streams_fail_with_the_same_exception()
    {
        using var broker = FakeBroker.Start();
        var (client, connection) = await broker.ConnectAsync(ChatCapabilities.All);
        await using (client)
        using (connection)
        {
            var room = await JoinAsync(client, connection, new JoinedMessage("dev", []), []);
            var pushed = client.Messages.ToList().ToTask();
            var roomPushed = room.Messages.ToList().ToTask();
            var roomPulled = room.ReadMessagesAsync().ToListAsync().AsTask();

            await connection.SendLineAsync("garbage");

            var failure = Assert.ThrowsAsync<ChatConnectionException>(() => pushed.WaitAsync(Deadline));
            Assert.That(() => roomPushed.WaitAsync(Deadline), Throws.Exception.SameAs(failure));
            Assert.That(() => roomPulled.WaitAsync(Deadline), Throws.Exception.SameAs(failure));
            Assert.That(await room.Completion.WaitAsync(Deadline), Is.EqualTo(ChatRoomCloseReason.ConnectionEnded));
        }
    }

    [Test]
    public async Task An_observer_of_a_room_may_leave_it_from_inside_OnNext()
    {
        using var broker = FakeBroker.Start();
        var (client, connection) = await broker.ConnectAsync(ChatCapabilities.All);
        await using (client)
        using (connection)
        {
            var room = await JoinAsync(client, connection, new JoinedMessage("dev", []), []);
            Task? leaving = null;
            using var subscription = room.Messages.Subscribe(message =>
            {
                if (message.Text == "/leave")
                {
                    leaving = room.LeaveAsync();
                }
            });

            await connection.SendAsync(new ChatBroadcastMessage("bob", "/leave") { Room = "dev" });
            Assert.That(await connection.ReadMessageAsync<LeaveMessage>(), Is.EqualTo(new LeaveMessage("dev")));
            await connection.SendAsync(new LeftMessage("dev"));

            Assert.That(await room.Completion.WaitAsync(Deadline), Is.EqualTo(ChatRoomCloseReason.LeftByClient));
            await leaving!.WaitAsync(Deadline);
            connection.Close();
        }
    }

    /// <summary>Joins through the fake: reads the join, answers <paramref name="joined"/> and what follows in one write.</summary>
    internal static async Task<ChatRoom> JoinAsync(ChatClient client, FakeBrokerConnection connection, JoinedMessage joined, ServerMessage[] alsoSend)
    {
        var joining = client.JoinAsync(joined.Room);
        await connection.ReadMessageAsync<JoinMessage>();
        await connection.SendAsync([joined, .. alsoSend]);
        return await joining.WaitAsync(Deadline);
    }

    /// <summary>Sends the messages in one write and waits until the client's reader loop has handled the last.</summary>
    internal static async Task SendAndWaitAsync(ChatClient client, FakeBrokerConnection connection, params ServerMessage[] messages)
    {
        var seen = client.Messages.FirstAsync(m => m.Equals(messages[^1])).ToTask();
        await connection.SendAsync(messages);
        await seen.WaitAsync(Deadline);
    }
}
