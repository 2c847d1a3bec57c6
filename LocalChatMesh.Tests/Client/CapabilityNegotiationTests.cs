using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using LocalChatMesh.Protocol;
using LocalChatMesh.Tests.Support;

namespace LocalChatMesh.Tests.Client;

public class CapabilityNegotiationTests
{
    private static readonly TimeSpan Deadline = FakeBroker.Deadline;

    [Test]
    public async Task By_default_the_hello_is_exactly_version_1_and_nothing_is_granted()
    {
        using var broker = FakeBroker.Start();
        var connecting = ChatClient.ConnectAsync(broker.EndPoint, "alice");
        using var connection = await broker.AcceptAsync();

        var line = await connection.ReadLineAsync();
        await connection.SendAsync(new WelcomeMessage("alice") { Capabilities = [ChatCapabilities.Rooms], Session = "x" });
        await using var client = await connecting.WaitAsync(Deadline);

        Assert.That(line, Is.EqualTo("""{"type":"hello","nickname":"alice"}"""));
        Assert.That(client.Capabilities, Is.Empty, "what was not asked for is not granted, whatever the peer says");
        Assert.That(ChatClientOptions.Default.Capabilities, Is.Empty);
        connection.Close();
    }

    [Test]
    public async Task The_hello_asks_for_the_capabilities_and_session_and_the_welcome_sets_what_was_granted()
    {
        using var broker = FakeBroker.Start();
        var options = new ChatClientOptions { Capabilities = ChatCapabilities.All, Session = "old-secret" };
        var connecting = ChatClient.ConnectAsync(broker.EndPoint, "alice", options);
        using var connection = await broker.AcceptAsync();

        var line = await connection.ReadLineAsync();
        await connection.SendAsync(new WelcomeMessage("alice") { Capabilities = [ChatCapabilities.Rooms, ChatCapabilities.Meta], Session = "new-secret", MaxLineLength = 4096 });
        await using var client = await connecting.WaitAsync(Deadline);

        Assert.That(line, Is.EqualTo("""{"type":"hello","nickname":"alice","capabilities":["rooms","direct","history","meta"],"session":"old-secret"}"""));
        Assert.That(client.Capabilities, Is.EqualTo(new[] { "rooms", "meta" }));
        Assert.That(client.Session, Is.EqualTo("new-secret"));
        Assert.That(client.ServerMaxLineLength, Is.EqualTo(4096));
        connection.Close();
    }

    [Test]
    public async Task Capabilities_the_client_did_not_ask_for_are_not_granted()
    {
        using var broker = FakeBroker.Start();
        var (client, connection) = await broker.ConnectAsync([ChatCapabilities.Rooms], grant: [ChatCapabilities.Direct, ChatCapabilities.Rooms, "telepathy"]);
        await using (client)
        using (connection)
        {
            Assert.That(client.Capabilities, Is.EqualTo(new[] { "rooms" }));
            Assert.ThrowsAsync<ChatCapabilityException>(() => client.SendDirectAsync("bob", "hi"));
            connection.Close();
        }
    }

    [Test]
    public async Task Against_a_version_1_broker_the_room_and_direct_calls_throw_ChatCapabilityException_and_send_nothing()
    {
        using var broker = FakeBroker.Start();
        var connecting = ChatClient.ConnectAsync(broker.EndPoint, "alice", new ChatClientOptions { Capabilities = ChatCapabilities.All });
        using var connection = await broker.AcceptAndWelcomeAsync(new RosterMessage(["bob"]));
        await using var client = await connecting.WaitAsync(Deadline);

        var join = Assert.ThrowsAsync<ChatCapabilityException>(() => client.JoinAsync("dev"));
        Assert.Multiple(() =>
        {
            Assert.That(join.Message, Is.EqualTo("the broker did not grant 'rooms' (a version 1 broker, or not asked for in ChatClientOptions.Capabilities)"));
            Assert.That(join.Capability, Is.EqualTo("rooms"));
            Assert.That(join, Is.InstanceOf<ChatMeshException>());
            Assert.That(client.Capabilities, Is.Empty);
            Assert.That(client.Session, Is.Null);
            Assert.That(client.ServerMaxLineLength, Is.Null);
            Assert.ThrowsAsync<ChatCapabilityException>(() => client.ListRoomsAsync());
            Assert.ThrowsAsync<ChatCapabilityException>(() => client.WhoAsync("dev"));
            Assert.That(() => client.SendDirectAsync("bob", "hi"), Throws.InstanceOf<ChatCapabilityException>().With.Message.Contains("'direct'"));
        });

        // The refused calls wrote nothing: the next line the broker reads is this chat.
        await client.SendAsync("still v1");
        Assert.That(await connection.ReadMessageAsync<ChatMessage>(), Is.EqualTo(new ChatMessage("still v1")));
        connection.Close();
    }

    [Test]
    public async Task A_client_granted_capabilities_but_not_rooms_keeps_the_lobby_roster()
    {
        using var broker = FakeBroker.Start();
        var connecting = ChatClient.ConnectAsync(broker.EndPoint, "alice", new ChatClientOptions { Capabilities = ChatCapabilities.All });
        using var connection = await broker.AcceptAndGrantAsync([ChatCapabilities.Direct], new RosterMessage(["bob"]));
        await using var client = await connecting.WaitAsync(Deadline);

        var roster = await client.ParticipantsChanged.FirstAsync(list => list.Count == 1).ToTask().WaitAsync(Deadline);

        Assert.That(roster, Is.EqualTo(new[] { "bob" }));
        Assert.That(client.Capabilities, Is.EqualTo(new[] { "direct" }));
        Assert.ThrowsAsync<ChatCapabilityException>(() => client.JoinAsync("dev"));
        connection.Close();
    }

    [Test]
    public async Task History_and_resume_need_the_history_capability()
    {
        using var broker = FakeBroker.Start();
        var (client, connection) = await broker.ConnectAsync([ChatCapabilities.Rooms]);
        await using (client)
        using (connection)
        {
            var exception = Assert.ThrowsAsync<ChatCapabilityException>(() => client.JoinAsync("dev", new ChatJoinOptions { History = 10 }));
            Assert.That(exception.Capability, Is.EqualTo("history"));
            Assert.ThrowsAsync<ChatCapabilityException>(() => client.JoinAsync("dev", new ChatJoinOptions { After = 5, Epoch = "e1" }));
            connection.Close();
        }
    }

    [Test]
    public async Task ConnectAsync_takes_a_host_and_port()
    {
        using var broker = FakeBroker.Start();
        var connecting = ChatClient.ConnectAsync($"localhost:{broker.EndPoint.Port}", "alice");
        using var connection = await broker.AcceptAndWelcomeAsync();
        await using var client = await connecting.WaitAsync(Deadline);

        Assert.That(client.RemoteEndPoint, Is.EqualTo(broker.EndPoint));
        connection.Close();
    }

    [TestCase("nonsense", "'nonsense' is not an address of the form HOST:PORT, such as 127.0.0.1:5000")]
    [TestCase("127.0.0.1:99999", "'99999' is not a port number from 0 to 65535")]
    [TestCase("example.com:5000", "'example.com' is not an IP address (or localhost)")]
    public void A_bad_address_throws_FormatException_saying_why(string server, string message)
    {
        Assert.That(() => ChatClient.ConnectAsync(server, "alice"), Throws.InstanceOf<FormatException>().With.Message.EqualTo(message));
    }

    [Test]
    public void Options_refuse_bad_version_2_values_with_a_clear_message()
    {
        Assert.Multiple(() =>
        {
            Assert.That(() => new ChatClientOptions { RequestTimeout = TimeSpan.Zero }, Throws.InstanceOf<ArgumentOutOfRangeException>().With.Message.Contains("RequestTimeout must be positive"));
            Assert.That(() => new ChatClientOptions { Capabilities = null! }, Throws.ArgumentNullException);
            Assert.That(() => new ChatClientOptions { Capabilities = ["rooms", null!] }, Throws.ArgumentNullException.With.Message.Contains("cannot contain null"));
            Assert.That(() => new ChatJoinOptions { History = -1 }, Throws.InstanceOf<ArgumentOutOfRangeException>().With.Message.Contains("History must be 0 or more"));
            Assert.That(() => new ChatJoinOptions { After = -1 }, Throws.InstanceOf<ArgumentOutOfRangeException>().With.Message.Contains("After must be"));
            Assert.That(ChatClientOptions.Default.RequestTimeout, Is.EqualTo(TimeSpan.FromSeconds(10)));
            Assert.That(new ChatClientOptions { RequestTimeout = Timeout.InfiniteTimeSpan }.RequestTimeout, Is.EqualTo(Timeout.InfiniteTimeSpan));
        });
    }

    [Test]
    public void Options_keep_their_own_copy_of_the_capabilities()
    {
        var asked = new List<string> { ChatCapabilities.Rooms };
        var options = new ChatClientOptions { Capabilities = asked };
        asked.Add(ChatCapabilities.Direct);

        Assert.That(options.Capabilities, Is.EqualTo(new[] { "rooms" }));
    }

    [Test]
    public async Task A_line_longer_than_the_broker_accepts_is_refused_before_it_is_sent()
    {
        using var broker = FakeBroker.Start();
        var (client, connection) = await broker.ConnectAsync(ChatCapabilities.All);
        await using (client)
        using (connection)
        {
            Assert.That(client.ServerMaxLineLength, Is.EqualTo(8 * 1024));

            var exception = Assert.ThrowsAsync<ArgumentException>(() => client.SendAsync(new string('x', 9000)));

            Assert.That(exception.Message, Does.StartWith("the line would be 9025 bytes, and the broker accepts at most 8192"));
            Assert.That(exception.ParamName, Is.EqualTo("text"));
            await client.SendAsync("short");
            Assert.That(await connection.ReadMessageAsync<ChatMessage>(), Is.EqualTo(new ChatMessage("short")));
            connection.Close();
        }
    }
}
