using System.Net;
using LocalChatMesh.Protocol;
using LocalChatMesh.Samples.GreeterBot;
using LocalChatMesh.Tests.Support;

namespace LocalChatMesh.Tests.Samples;

/// <summary>samples/GreeterBot run in-process against a real broker.</summary>
public class GreeterBotSampleTests
{
    [Test]
    public async Task A_joining_user_is_welcomed_by_name()
    {
        await using var broker = await TestBroker.StartAsync();
        await using var bot = await Bot.StartAsync(broker);

        await using var alice = await RawClient.JoinAsync(broker.LocalEndPoint, "alice");

        Assert.That(await alice.ExpectAsync<RosterMessage>(), Is.EqualTo(new RosterMessage(["greeter"])));
        await alice.ExpectChatAsync("greeter", "welcome, alice!");
    }

    [Test]
    public async Task Everybody_sees_the_welcome_for_a_later_joiner()
    {
        await using var broker = await TestBroker.StartAsync();
        await using var bot = await Bot.StartAsync(broker);
        await using var alice = await JoinPastTheWelcomeAsync(broker, "alice");

        await using var bob = await RawClient.JoinAsync(broker.LocalEndPoint, "bob");

        Assert.That(await alice.ExpectAsync<UserJoinedMessage>(), Is.EqualTo(new UserJoinedMessage("bob")));
        await alice.ExpectChatAsync("greeter", "welcome, bob!");
        await bob.ExpectAsync<RosterMessage>();
        await bob.ExpectChatAsync("greeter", "welcome, bob!");
    }

    [Test]
    public async Task Echo_answers_with_the_text_after_the_command()
    {
        await using var broker = await TestBroker.StartAsync();
        await using var bot = await Bot.StartAsync(broker);
        await using var alice = await JoinPastTheWelcomeAsync(broker, "alice");

        await alice.SendChatAsync("!echo hello there");

        await alice.ExpectChatAsync("alice", "!echo hello there");
        await alice.ExpectChatAsync("greeter", "hello there");
    }

    [Test]
    public async Task Other_lines_and_the_bots_own_echo_get_no_answer()
    {
        await using var broker = await TestBroker.StartAsync();
        await using var bot = await Bot.StartAsync(broker);
        await using var alice = await JoinPastTheWelcomeAsync(broker, "alice");

        // The bot answers in order, so an answer it should not give would arrive before "done".
        await alice.SendChatAsync("just chatting");
        await alice.ExpectChatAsync("alice", "just chatting");
        await alice.SendChatAsync("!echo !echo twice");
        await alice.ExpectChatAsync("alice", "!echo !echo twice");
        await alice.ExpectChatAsync("greeter", "!echo twice");
        await alice.SendChatAsync("!echo done");

        await alice.ExpectChatAsync("alice", "!echo done");
        await alice.ExpectChatAsync("greeter", "done");
    }

    [Test]
    public async Task Cancelling_makes_the_bot_leave_cleanly()
    {
        await using var broker = await TestBroker.StartAsync();
        using var events = new EventRecorder(broker);
        await using var bot = await Bot.StartAsync(broker);
        await using var alice = await JoinPastTheWelcomeAsync(broker, "alice");

        await bot.StopAsync();

        Assert.That(await alice.ExpectAsync<UserLeftMessage>(), Is.EqualTo(new UserLeftMessage("greeter")));
        var left = await events.WaitForAsync<ClientDisconnectedEvent>(e => e.Nickname == "greeter");
        Assert.That(left.Reason, Is.EqualTo(DisconnectReason.ClientClosed));
    }

    [Test]
    public async Task The_bot_returns_when_the_broker_shuts_down()
    {
        await using var broker = await TestBroker.StartAsync();
        await using var bot = await Bot.StartAsync(broker);

        await broker.StopAsync();

        await bot.Running.WaitAsync(RawClient.Deadline);
    }

    [Test]
    public async Task A_taken_nickname_fails_with_the_brokers_reason()
    {
        await using var broker = await TestBroker.StartAsync();
        await using var first = await RawClient.JoinAsync(broker.LocalEndPoint, "greeter");

        var exception = Assert.ThrowsAsync<ChatHandshakeException>(() => Greeter.RunAsync(broker.LocalEndPoint, "Greeter").WaitAsync(RawClient.Deadline));

        Assert.That(exception.ServerMessage, Is.EqualTo("nickname 'Greeter' is already in use"));
    }

    [TestCase("!echo hi", ExpectedResult = "hi")]
    [TestCase("!echo  two  spaces ", ExpectedResult = " two  spaces ")]
    [TestCase("!echo ", ExpectedResult = null)]
    [TestCase("!echo    ", ExpectedResult = null)]
    [TestCase("!echo", ExpectedResult = null)]
    [TestCase("!ECHO hi", ExpectedResult = null)]
    [TestCase("say !echo hi", ExpectedResult = null)]
    [TestCase("hello", ExpectedResult = null)]
    public string? Answer_to_a_chat_line_from_somebody_else(string text) =>
        Greeter.Answer(new ChatBroadcastMessage("alice", text), "greeter");

    [Test]
    public void Answer_to_other_messages()
    {
        Assert.Multiple(() =>
        {
            Assert.That(Greeter.Answer(new UserJoinedMessage("bob"), "greeter"), Is.EqualTo("welcome, bob!"));
            Assert.That(Greeter.Answer(new ChatBroadcastMessage("greeter", "!echo hi"), "greeter"), Is.Null, "never itself");
            Assert.That(Greeter.Answer(new UserLeftMessage("bob"), "greeter"), Is.Null);
            Assert.That(Greeter.Answer(new RosterMessage(["bob"]), "greeter"), Is.Null);
            Assert.That(Greeter.Answer(new ErrorMessage("broker shutting down"), "greeter"), Is.Null);
        });
    }

    /// <summary>Joins and reads the roster and the bot's welcome, so the test starts from a quiet line.</summary>
    private static async Task<RawClient> JoinPastTheWelcomeAsync(ChatBroker broker, string nickname)
    {
        var client = await RawClient.JoinAsync(broker.LocalEndPoint, nickname);
        await client.ExpectAsync<RosterMessage>();
        await client.ExpectChatAsync("greeter", $"welcome, {nickname}!");
        return client;
    }

    /// <summary><see cref="Greeter.RunAsync"/> in the background as <c>greeter</c>, stopped by its token.</summary>
    private sealed class Bot : IAsyncDisposable
    {
        private readonly CancellationTokenSource _stop = new();

        private Bot(IPEndPoint endPoint) => Running = Greeter.RunAsync(endPoint, "greeter", _stop.Token);

        public Task Running { get; }

        /// <summary>Starts the bot and waits until the broker says it has joined.</summary>
        public static async Task<Bot> StartAsync(ChatBroker broker)
        {
            using var events = new EventRecorder(broker);
            var bot = new Bot(broker.LocalEndPoint);

            // A bot that fails to join must fail the test with its own exception, not a timeout.
            var joined = events.WaitForAsync<ClientJoinedEvent>(e => e.Nickname == "greeter");
            await Task.WhenAny(joined, bot.Running);
            if (bot.Running.IsCompleted)
            {
                await bot.Running;
                Assert.Fail("the bot stopped before it joined");
            }

            await joined;
            return bot;
        }

        /// <summary>Cancels the bot's token and waits for <see cref="Greeter.RunAsync"/> to return.</summary>
        public async Task StopAsync()
        {
            await _stop.CancelAsync();
            await Running.WaitAsync(RawClient.Deadline);
        }

        public async ValueTask DisposeAsync()
        {
            await StopAsync();
            _stop.Dispose();
        }
    }
}
