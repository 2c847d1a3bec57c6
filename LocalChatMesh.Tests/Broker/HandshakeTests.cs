using LocalChatMesh.Protocol;
using LocalChatMesh.Tests.Support;

namespace LocalChatMesh.Tests.Broker;

public class HandshakeTests
{
    private const string BadCharacters = "nickname cannot contain control, format or whitespace characters";

    [Test]
    public async Task A_chat_before_hello_gets_an_error_then_close()
    {
        await using var broker = await TestBroker.StartAsync();
        await using var client = await RawClient.ConnectAsync(broker.LocalEndPoint);

        await client.SendChatAsync("hi");

        await client.ExpectErrorAsync("expected a hello message first");
        Assert.That(await client.WaitForClosedAsync(), Is.Empty);
    }

    [Test]
    public async Task An_invalid_json_first_line_gets_an_error_then_close()
    {
        await using var broker = await TestBroker.StartAsync();
        await using var client = await RawClient.ConnectAsync(broker.LocalEndPoint);

        await client.SendLineAsync("this is not json");

        var error = await client.ExpectAsync<ErrorMessage>();
        Assert.That(error.Message, Does.StartWith("invalid JSON"));
        Assert.That(await client.WaitForClosedAsync(), Is.Empty);
    }

    [Test]
    public async Task The_nickname_is_trimmed_and_the_welcome_echoes_it()
    {
        await using var broker = await TestBroker.StartAsync();

        await using var client = await RawClient.JoinAsync(broker.LocalEndPoint, " \t alice  ", expectedNickname: "alice");

        Assert.That(broker.Participants, Is.EqualTo(new[] { "alice" }));
    }

    [TestCase("")]
    [TestCase("   ")]
    [TestCase(" \t ")]
    public async Task An_empty_nickname_is_refused(string nickname)
    {
        await using var broker = await TestBroker.StartAsync();
        await using var client = await RawClient.ConnectAsync(broker.LocalEndPoint);

        await client.SendAsync(new HelloMessage(nickname));

        await client.ExpectErrorAsync("nickname cannot be empty");
        Assert.That(await client.WaitForClosedAsync(), Is.Empty);
    }

    [TestCase("a", 32)]
    [TestCase("🙂", 32)]
    [TestCase("é", 32)]
    public async Task Thirty_two_characters_are_accepted(string character, int count)
    {
        await using var broker = await TestBroker.StartAsync();
        var nickname = string.Concat(Enumerable.Repeat(character, count));

        await using var client = await RawClient.JoinAsync(broker.LocalEndPoint, nickname);

        Assert.That(broker.Participants, Is.EqualTo(new[] { nickname }));
    }

    [TestCase("a", 33)]
    [TestCase("🙂", 33)]
    public async Task Thirty_three_characters_are_refused(string character, int count)
    {
        await using var broker = await TestBroker.StartAsync();
        await using var client = await RawClient.ConnectAsync(broker.LocalEndPoint);

        await client.SendAsync(new HelloMessage(string.Concat(Enumerable.Repeat(character, count))));

        await client.ExpectErrorAsync("nickname cannot be longer than 32 characters");
        Assert.That(await client.WaitForClosedAsync(), Is.Empty);
        Assert.That(broker.Participants, Is.Empty);
    }

    [TestCase("al\u0001ice")]
    [TestCase("al\u007Fice")]
    [TestCase("al\u202Eice")]
    [TestCase("al\u200Bice")]
    [TestCase("al\u2028ice")]
    [TestCase("al ice")]
    [TestCase("al\tice")]
    [TestCase("al\u00A0ice")]
    [TestCase("al\u3000ice")]
    public async Task Control_format_or_inner_whitespace_characters_are_refused(string nickname)
    {
        await using var broker = await TestBroker.StartAsync();
        await using var client = await RawClient.ConnectAsync(broker.LocalEndPoint);

        await client.SendAsync(new HelloMessage(nickname));

        await client.ExpectErrorAsync(BadCharacters);
        Assert.That(await client.WaitForClosedAsync(), Is.Empty);
        Assert.That(broker.Participants, Is.Empty);
    }

    [TestCase("alice")]
    [TestCase("Alice")]
    [TestCase("ALICE")]
    [TestCase(" alice ")]
    public async Task A_nickname_in_use_is_refused_ignoring_case(string nickname)
    {
        await using var broker = await TestBroker.StartAsync();
        await using var alice = await RawClient.JoinAsync(broker.LocalEndPoint, "alice");
        await using var other = await RawClient.ConnectAsync(broker.LocalEndPoint);

        await other.SendAsync(new HelloMessage(nickname));

        var error = await other.ExpectAsync<ErrorMessage>();
        Assert.That(error.Message, Is.EqualTo("nickname 'alice' is already in use").IgnoreCase);
        Assert.That(await other.WaitForClosedAsync(), Is.Empty);
        Assert.That(broker.Participants, Is.EqualTo(new[] { "alice" }));
    }

    [TestCase("5")]
    [TestCase("null")]
    public async Task A_token_that_is_not_a_string_is_ignored_without_a_secret_and_refused_with_one(string token)
    {
        var hello = $$"""{"type":"hello","nickname":"alice","token":{{token}}}""";
        await using (var open = await TestBroker.StartAsync())
        {
            await using var alice = await RawClient.ConnectAsync(open.LocalEndPoint);
            await alice.SendLineAsync(hello);
            Assert.That(await alice.ReceiveAsync(), Is.EqualTo(new WelcomeMessage("alice")));
        }

        await using var guarded = await TestBroker.StartAsync(o => o with { Token = "s3cret" });
        await using var intruder = await RawClient.ConnectAsync(guarded.LocalEndPoint);
        await intruder.SendLineAsync(hello);
        await intruder.ExpectErrorAsync("authentication failed");
        Assert.That(await intruder.WaitForClosedAsync(), Is.Empty);
    }

    [Test]
    public async Task A_refused_handshake_reserves_nothing_and_the_broker_serves_others()
    {
        await using var broker = await TestBroker.StartAsync();
        await using var alice = await RawClient.JoinAsync(broker.LocalEndPoint, "alice");

        // Refused three ways: in use (case-insensitively), bad character, chat first.
        await using (var duplicate = await RawClient.ConnectAsync(broker.LocalEndPoint))
        {
            await duplicate.SendAsync(new HelloMessage("ALICE"));
            Assert.That(await duplicate.ExpectAsync<ErrorMessage>(), Is.Not.Null);
            await duplicate.WaitForClosedAsync();
        }

        await using (var bad = await RawClient.ConnectAsync(broker.LocalEndPoint))
        {
            await bad.SendAsync(new HelloMessage("bob\u0007"));
            await bad.ExpectErrorAsync(BadCharacters);
            await bad.WaitForClosedAsync();
        }

        // Alice heard nothing of the refused attempts: the next thing she hears is bob joining.
        await using var bob = await RawClient.JoinAsync(broker.LocalEndPoint, "bob");
        Assert.That(await bob.ReceiveAsync(), Is.EqualTo(new RosterMessage(["alice"])));
        Assert.That(await alice.ReceiveAsync(), Is.EqualTo(new UserJoinedMessage("bob")));

        await bob.SendChatAsync("still serving");
        await alice.ExpectChatAsync("bob", "still serving");
        await bob.ExpectChatAsync("bob", "still serving");

        // Once alice leaves, the nickname the refused client asked for is free.
        await alice.DisposeAsync();
        Assert.That(await bob.ReceiveAsync(), Is.EqualTo(new UserLeftMessage("alice")));
        await using var newAlice = await RawClient.JoinAsync(broker.LocalEndPoint, "ALICE");
        Assert.That(await newAlice.ReceiveAsync(), Is.EqualTo(new RosterMessage(["bob"])));
        Assert.That(await bob.ReceiveAsync(), Is.EqualTo(new UserJoinedMessage("ALICE")));
    }
}
