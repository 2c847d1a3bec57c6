using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using LocalChatMesh.Protocol;
using LocalChatMesh.Tests.Support;

namespace LocalChatMesh.Tests.Client;

public class RequestMatchingTests
{
    private static readonly TimeSpan Deadline = FakeBroker.Deadline;

    [Test]
    public async Task The_answer_is_found_among_interleaved_broadcasts_and_other_errors()
    {
        using var broker = FakeBroker.Start();
        var (client, connection) = await broker.ConnectAsync(ChatCapabilities.All);
        await using (client)
        using (connection)
        {
            var ops = await ChatRoomTests.JoinAsync(client, connection, new JoinedMessage("ops", ["bob"]), []);
            var all = client.Messages.Take(7).ToList().ToTask();
            var joining = client.JoinAsync("dev");
            await connection.ReadMessageAsync<JoinMessage>();
            ServerMessage[] traffic =
            [
                new ChatBroadcastMessage("bob", "hi") { Room = "ops" },
                new ErrorMessage("rate limit exceeded: at most 5 messages per second; messages are dropped until you slow down"),
                new UserJoinedMessage("carol") { Room = "ops" },
                new ErrorMessage("already in room 'ops'"),
                new ErrorMessage("you are behind by 3 messages; consider reconnecting"),
                new DirectDeliveryMessage("carol", "alice", "psst"),
                new JoinedMessage("Dev", ["dave"]),
            ];

            await connection.SendAsync(traffic);
            var dev = await joining.WaitAsync(Deadline);

            Assert.That(dev.Name, Is.EqualTo("Dev"));
            Assert.That(dev.Participants, Is.EqualTo(new[] { "dave" }));
            Assert.That(await all.WaitAsync(Deadline), Is.EqualTo(traffic), "every message, the answer included, is on Messages");
            Assert.That(ops.Participants, Is.EqualTo(new[] { "bob", "carol" }));
            connection.Close();
        }
    }

    [TestCase("already in room 'dev'")]
    [TestCase("already in room 'DEV'")]
    [TestCase("invalid room name")]
    [TestCase("too many rooms")]
    [TestCase("missing field 'room'")]
    [TestCase("field 'room' must be a string")]
    [TestCase("unknown message type 'join'")]
    public async Task A_refused_join_throws_ChatRequestException_with_the_brokers_text(string refusal)
    {
        using var broker = FakeBroker.Start();
        var (client, connection) = await broker.ConnectAsync(ChatCapabilities.All);
        await using (client)
        using (connection)
        {
            var joining = client.JoinAsync("dev");
            await connection.ReadMessageAsync<JoinMessage>();
            await connection.SendAsync(new ChatBroadcastMessage("bob", "noise") { Room = "ops" }, new ErrorMessage(refusal));

            var exception = Assert.ThrowsAsync<ChatRequestException>(() => joining.WaitAsync(Deadline));

            Assert.That(exception.Message, Is.EqualTo(refusal));
            Assert.That(exception.ServerMessage, Is.EqualTo(refusal));
            Assert.That(exception, Is.InstanceOf<ChatMeshException>());
            Assert.That(client.Rooms, Is.Empty);
            connection.Close();
        }
    }

    [Test]
    public async Task Errors_about_another_room_or_another_request_are_not_the_answer()
    {
        using var broker = FakeBroker.Start();
        var (client, connection) = await broker.ConnectAsync(ChatCapabilities.All);
        await using (client)
        using (connection)
        {
            var errors = client.Messages.OfType<ErrorMessage>().Take(4).ToList().ToTask();
            var joining = client.JoinAsync("dev");
            await connection.ReadMessageAsync<JoinMessage>();
            ServerMessage[] notTheAnswer =
            [
                new ErrorMessage("already in room 'ops'"),
                new ErrorMessage("not in room 'dev'"),
                new ErrorMessage("unknown message type 'who'"),
                new ErrorMessage("no such user 'bob'"),
                new LeftMessage("dev"),
                new RosterMessage(["alice"]) { Room = "dev" },
            ];
            await connection.SendAsync([.. notTheAnswer, new JoinedMessage("dev", [])]);

            Assert.That((await joining.WaitAsync(Deadline)).Name, Is.EqualTo("dev"));
            Assert.That(await errors.WaitAsync(Deadline), Is.EqualTo(notTheAnswer[..4]));
            connection.Close();
        }
    }

    [Test]
    public async Task Who_and_rooms_get_their_answers()
    {
        using var broker = FakeBroker.Start();
        var (client, connection) = await broker.ConnectAsync(ChatCapabilities.All);
        await using (client)
        using (connection)
        {
            var who = client.WhoAsync("dev");
            Assert.That(await connection.ReadMessageAsync<WhoMessage>(), Is.EqualTo(new WhoMessage("dev")));
            await connection.SendAsync(new RosterMessage(["bob"]) { Room = "ops" }, new RosterMessage(["alice", "bob"]) { Room = "DEV" });
            Assert.That(await who.WaitAsync(Deadline), Is.EqualTo(new[] { "alice", "bob" }));

            var rooms = client.ListRoomsAsync();
            Assert.That(await connection.ReadLineAsync(), Is.EqualTo("""{"type":"rooms"}"""));
            await connection.SendAsync(new RoomListMessage([new RoomSummary("dev", 2), new RoomSummary("ops", 0)]));
            Assert.That(await rooms.WaitAsync(Deadline), Is.EqualTo(new[] { new RoomSummary("dev", 2), new RoomSummary("ops", 0) }));
            Assert.That(client.Participants, Is.Empty, "a roster for a room is not the lobby's");
            connection.Close();
        }
    }

    [TestCase("not in room 'dev'")]
    [TestCase("invalid room name")]
    public async Task A_refused_who_throws_with_the_text(string refusal)
    {
        using var broker = FakeBroker.Start();
        var (client, connection) = await broker.ConnectAsync(ChatCapabilities.All);
        await using (client)
        using (connection)
        {
            var who = client.WhoAsync("dev");
            await connection.ReadMessageAsync<WhoMessage>();
            await connection.SendAsync(new ErrorMessage(refusal));

            Assert.That(() => who.WaitAsync(Deadline), Throws.InstanceOf<ChatRequestException>().With.Message.EqualTo(refusal));
            connection.Close();
        }
    }

    [Test]
    public async Task Requests_go_out_one_at_a_time()
    {
        using var broker = FakeBroker.Start();
        var (client, connection) = await broker.ConnectAsync(ChatCapabilities.All);
        await using (client)
        using (connection)
        {
            var first = client.JoinAsync("one");
            var second = client.JoinAsync("two");
            var rooms = client.ListRoomsAsync();
            await client.SendAsync("not a request");

            Assert.That(await connection.ReadMessageAsync<JoinMessage>(), Is.EqualTo(new JoinMessage("one")));
            Assert.That(await connection.ReadMessageAsync<ChatMessage>(), Is.EqualTo(new ChatMessage("not a request")), "chats do not wait; the next request does");
            await connection.SendAsync(new JoinedMessage("one", []));
            Assert.That((await first.WaitAsync(Deadline)).Name, Is.EqualTo("one"));

            Assert.That(await connection.ReadMessageAsync<JoinMessage>(), Is.EqualTo(new JoinMessage("two")));
            await connection.SendAsync(new ErrorMessage("too many rooms"));
            Assert.ThrowsAsync<ChatRequestException>(() => second.WaitAsync(Deadline));

            await connection.ReadMessageAsync<ListRoomsMessage>();
            await connection.SendAsync(new RoomListMessage([new RoomSummary("one", 1)]));
            Assert.That(await rooms.WaitAsync(Deadline), Has.Count.EqualTo(1));
            connection.Close();
        }
    }

    [Test]
    public async Task A_request_without_an_answer_times_out_and_the_next_one_goes_out()
    {
        using var broker = FakeBroker.Start();
        var options = new ChatClientOptions { RequestTimeout = TimeSpan.FromMilliseconds(300) };
        var (client, connection) = await broker.ConnectAsync(ChatCapabilities.All, options: options);
        await using (client)
        using (connection)
        {
            var exception = Assert.ThrowsAsync<ChatRequestException>(() => client.JoinAsync("dev").WaitAsync(Deadline));

            Assert.That(exception.Message, Is.EqualTo("the broker did not answer 'join' within 0.3 s"));
            Assert.That(exception.ServerMessage, Is.Null);
            Assert.That(exception.InnerException, Is.InstanceOf<TimeoutException>());
            await connection.ReadMessageAsync<JoinMessage>();

            var who = client.WhoAsync("dev");
            await connection.ReadMessageAsync<WhoMessage>();
            await connection.SendAsync(new RosterMessage(["alice"]) { Room = "dev" });
            Assert.That(await who.WaitAsync(Deadline), Is.EqualTo(new[] { "alice" }));
            connection.Close();
        }
    }

    [Test]
    public async Task A_cancelled_join_throws_OperationCanceledException_and_its_late_answer_only_reaches_Messages()
    {
        using var broker = FakeBroker.Start();
        var (client, connection) = await broker.ConnectAsync(ChatCapabilities.All);
        await using (client)
        using (connection)
        {
            using var cancel = new CancellationTokenSource();
            var joining = client.JoinAsync("dev", cancellationToken: cancel.Token);
            await connection.ReadMessageAsync<JoinMessage>();

            await cancel.CancelAsync();

            Assert.That(() => joining.WaitAsync(Deadline), Throws.InstanceOf<OperationCanceledException>());
            var late = new JoinedMessage("dev", []);
            await ChatRoomTests.SendAndWaitAsync(client, connection, late);
            Assert.That(client.Rooms, Is.Empty);
            connection.Close();
        }
    }

    [Test]
    public async Task A_request_cancelled_before_its_turn_sends_nothing()
    {
        using var broker = FakeBroker.Start();
        var (client, connection) = await broker.ConnectAsync(ChatCapabilities.All);
        await using (client)
        using (connection)
        {
            using var cancel = new CancellationTokenSource();
            var first = client.JoinAsync("one");
            var second = client.JoinAsync("two", cancellationToken: cancel.Token);
            await cancel.CancelAsync();
            Assert.That(() => second.WaitAsync(Deadline), Throws.InstanceOf<OperationCanceledException>());

            await connection.ReadMessageAsync<JoinMessage>();
            await connection.SendAsync(new JoinedMessage("one", []));
            await first.WaitAsync(Deadline);
            await client.SendAsync("marker");

            Assert.That(await connection.ReadMessageAsync<ChatMessage>(), Is.EqualTo(new ChatMessage("marker")));
            connection.Close();
        }
    }

    [Test]
    public async Task A_connection_that_ends_while_a_request_waits_fails_it_with_ChatConnectionException()
    {
        using var broker = FakeBroker.Start();
        var (client, connection) = await broker.ConnectAsync(ChatCapabilities.All);
        await using (client)
        using (connection)
        {
            var joining = client.JoinAsync("dev");
            await connection.ReadMessageAsync<JoinMessage>();

            connection.Close();

            Assert.That(() => joining.WaitAsync(Deadline), Throws.InstanceOf<ChatConnectionException>().With.Message.EqualTo($"the connection to {broker.EndPoint} has ended"));
            Assert.That(() => client.JoinAsync("ops"), Throws.InstanceOf<ChatConnectionException>());
        }
    }

    [Test]
    public async Task Requests_after_dispose_throw_ObjectDisposedException()
    {
        using var broker = FakeBroker.Start();
        var (client, connection) = await broker.ConnectAsync(ChatCapabilities.All);
        using (connection)
        {
            connection.Close();
            await client.DisposeAsync();

            Assert.That(() => client.JoinAsync("dev"), Throws.InstanceOf<ObjectDisposedException>());
            Assert.That(() => client.SendDirectAsync("bob", "hi"), Throws.InstanceOf<ObjectDisposedException>());
        }
    }
}
