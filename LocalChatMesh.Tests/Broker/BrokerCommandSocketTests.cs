using System.Globalization;
using System.Text.RegularExpressions;
using LocalChatMesh.Cli.Commands;
using LocalChatMesh.Protocol;
using LocalChatMesh.Tests.Support;

namespace LocalChatMesh.Tests.Broker;

/// <summary>
/// The <c>broker</c> command runs socket completions inline, on one of the runtime's socket event
/// threads (Commands/SocketCompletions.cs): its choice, and a broker running that way.
/// </summary>
public partial class BrokerCommandSocketTests
{
    private const string InlineVariable = SocketCompletions.InlineVariable;
    private const string ThreadCountVariable = SocketCompletions.ThreadCountVariable;

    [Test]
    public void Inline_on_one_event_thread_unless_the_environment_chose()
    {
        static IReadOnlyList<(string, string)> Settings(string? inline, string? threads) =>
            SocketCompletions.Settings(name => name == InlineVariable ? inline : name == ThreadCountVariable ? threads : null);

        Assert.That(Settings(null, null), Is.EqualTo(new[] { (InlineVariable, "1"), (ThreadCountVariable, "1") }));
        Assert.That(Settings(null, "3"), Is.EqualTo(new[] { (InlineVariable, "1") }), "a thread count of its own stays");
        Assert.That(Settings("0", null), Is.Empty, "turned off");
        Assert.That(Settings("1", null), Is.Empty, "inline, on the runtime's one event thread per core");
    }

    // The runtime makes one socket event thread per core when completions run inline, one in all
    // (below 45 cores) when they are handed to the pool, and as many as it is told; the threads'
    // name tells them apart. The broker command's own choice (inline, one thread) looks like the
    // pool's from outside, so these show that the runtime honours the environment the broker
    // starts with and that the command leaves an explicit choice alone.
    [TestCase(null, null, 1, TestName = "The broker command runs one socket event thread by default")]
    [TestCase("1", null, 0, TestName = "The broker command keeps an explicit inline setting, with the runtime's thread per core")]
    [TestCase("0", null, 1, TestName = "The broker command leaves socket completions to the pool when the environment says 0")]
    [TestCase(null, "2", 2, TestName = "The broker command keeps an explicit socket thread count")]
    public async Task Socket_event_threads(string? inline, string? threads, int expected)
    {
        Assume.That(Environment.ProcessorCount, Is.GreaterThan(1), "on one core every setting makes one socket event thread");
        var environment = new Dictionary<string, string?> { [InlineVariable] = inline, [ThreadCountVariable] = threads };
        await using var broker = CliProcess.Start(environment, "broker", "--listen", "127.0.0.1:0");
        await broker.WaitForBrokerAddressAsync();

        var eventThreads = Directory.GetDirectories($"/proc/{broker.Id}/task")
            .Count(task => File.ReadAllText(Path.Combine(task, "comm")).TrimEnd('\n') == ".NET Sockets");

        Assert.That(eventThreads, Is.EqualTo(expected == 0 ? Environment.ProcessorCount : expected), broker.Transcript());
    }

    // On the event threads nothing may block: a sender held back by a client that stopped reading
    // waits at the backpressure gate without holding the thread, the stuck client lags, and the
    // sender goes on. Then the lagging client reads again and is told what it missed.
    [Test]
    public async Task A_client_that_stops_reading_lags_and_nobody_waits_for_it()
    {
        await using var broker = CliProcess.Start(
            "broker", "--listen", "127.0.0.1:0", "--queue-soft-limit", "16384", "--queue-hard-limit", "65536", "--lag-grace", "0.5", "--disconnect-grace", "30");
        var endPoint = await broker.WaitForBrokerAddressAsync();
        await using var lagger = await RawClient.JoinAsync(endPoint, "lagger", receiveBufferSize: 4096);
        await using var bob = await RawClient.JoinAsync(endPoint, "bob");
        await bob.ExpectAsync<RosterMessage>();

        // Bob chats (reading his echoes) until the broker says lagger lags, then 100 more.
        var lagging = broker.WaitForErrorLineAsync(line => line.Contains("(lagger) is lagging", StringComparison.Ordinal), "the lagging warning");
        var sent = await LagDriver.ChatUntilLaggingAsync(bob, lagging, Chat);

        Assert.That(await lagger.ReceiveAsync(), Is.EqualTo(new UserJoinedMessage("bob")));
        var received = 0;
        ServerMessage message;
        while ((message = await lagger.ReceiveAsync()) is ChatBroadcastMessage chat)
        {
            Assert.That(chat.Text, Is.EqualTo(Chat(received)), "what lagger got is in order");
            received++;
        }

        var notice = BehindBy().Match(message is ErrorMessage error ? error.Message : "");
        Assert.That(notice.Success, Is.True, $"expected the lag notice, got {message}");
        Assert.That(received + long.Parse(notice.Groups[1].Value, CultureInfo.InvariantCulture), Is.EqualTo(sent), "every chat was delivered or counted as missed");

        await bob.SendChatAsync("after");
        await lagger.ExpectChatAsync("bob", "after");
    }

    private static string Chat(int sequence) => sequence.ToString(CultureInfo.InvariantCulture) + ":" + new string('x', 200);

    [GeneratedRegex("^you are behind by ([0-9]+) messages; consider reconnecting$")]
    private static partial Regex BehindBy();
}
