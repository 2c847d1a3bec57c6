using LocalChatMesh.Protocol;
using LocalChatMesh.Tests.Support;

namespace LocalChatMesh.Tests.Broker;

/// <summary>What a joined client may and may not send: second hello, blank chats, bad lines.</summary>
public class SessionRulesTests
{
    [Test]
    public async Task A_second_hello_gets_already_connected_and_the_connection_stays()
    {
        await using var broker = await TestBroker.StartAsync();
        await using var alice = await RawClient.JoinAsync(broker.LocalEndPoint, "alice");

        await alice.SendAsync(new HelloMessage("alice"));
        await alice.ExpectErrorAsync("already connected");
        await alice.SendAsync(new HelloMessage("mallory"));
        await alice.ExpectErrorAsync("already connected");

        await alice.SendChatAsync("still alice");
        await alice.ExpectChatAsync("alice", "still alice");
        Assert.That(broker.Participants, Is.EqualTo(new[] { "alice" }));
    }

    [TestCase("")]
    [TestCase(" ")]
    [TestCase(" \t \r\n ")]
    [TestCase("\u3000\u2003")]
    public async Task A_blank_chat_is_ignored(string text)
    {
        await using var broker = await TestBroker.StartAsync();
        await using var alice = await RawClient.JoinAsync(broker.LocalEndPoint, "alice");
        await using var bob = await RawClient.JoinAsync(broker.LocalEndPoint, "bob");
        await bob.ExpectAsync<RosterMessage>();
        Assert.That(await alice.ReceiveAsync(), Is.EqualTo(new UserJoinedMessage("bob")));

        await alice.SendChatAsync(text);
        await alice.SendChatAsync("marker");

        await alice.ExpectChatAsync("alice", "marker");
        await bob.ExpectChatAsync("alice", "marker");
    }

    [TestCase("this is not json", "invalid JSON")]
    [TestCase("[1,2,3]", "invalid message: expected a JSON object")]
    [TestCase("""{"type":"shout","text":"hi"}""", "unknown message type 'shout'")]
    [TestCase("""{"text":"hi"}""", "missing field 'type'")]
    [TestCase("""{"type":"chat"}""", "missing field 'text'")]
    [TestCase("""{"type":"chat","text":42}""", "field 'text' must be a string")]
    [TestCase("""{"type":"chat","text":null}""", "field 'text' must be a string")]
    [TestCase("""{"type":7,"text":"hi"}""", "field 'type' must be a string")]
    public async Task A_bad_line_after_the_handshake_gets_an_error_naming_the_problem_and_the_connection_stays(string line, string problem)
    {
        await using var broker = await TestBroker.StartAsync();
        await using var alice = await RawClient.JoinAsync(broker.LocalEndPoint, "alice");
        await using var bob = await RawClient.JoinAsync(broker.LocalEndPoint, "bob");
        await bob.ExpectAsync<RosterMessage>();
        Assert.That(await alice.ReceiveAsync(), Is.EqualTo(new UserJoinedMessage("bob")));

        await alice.SendLineAsync(line);

        var error = await alice.ExpectAsync<ErrorMessage>();
        Assert.That(error.Message, Does.StartWith(problem));
        await alice.SendChatAsync("after");
        await alice.ExpectChatAsync("alice", "after");
        await bob.ExpectChatAsync("alice", "after");
    }

    [Test]
    public async Task Unknown_fields_are_ignored_and_a_crlf_line_is_accepted()
    {
        await using var broker = await TestBroker.StartAsync();
        await using var alice = await RawClient.ConnectAsync(broker.LocalEndPoint);

        await alice.SendAsync("{\"nickname\":\"alice\",\"colour\":[1,{\"a\":2}],\"type\":\"hello\"}\r\n\r\n   \n"u8.ToArray());
        await alice.ExpectAsync<WelcomeMessage>();
        await alice.SendAsync("{\"type\":\"chat\",\"text\":\"hi\",\"extra\":true}\r\n"u8.ToArray());

        await alice.ExpectChatAsync("alice", "hi");
    }
}
