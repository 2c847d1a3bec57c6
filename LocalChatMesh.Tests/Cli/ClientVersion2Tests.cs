using System.Text;
using LocalChatMesh.Protocol;
using LocalChatMesh.Tests.Support;

namespace LocalChatMesh.Tests.Cli;

/// <summary>
/// The built <c>chatmesh client</c> in plain mode against a real broker (PROTOCOL.md, "Terminal
/// client, version 2"): rooms, switching, direct messages, the requests, and that a session in the
/// lobby looks exactly like version 1 whichever broker it talks to.
/// </summary>
public class ClientVersion2Tests
{
    [Test]
    public async Task Two_clients_use_rooms_direct_messages_and_the_requests_with_the_documented_lines()
    {
        await using var broker = await TestBroker.StartAsync();
        await using var alice = await StartAsync(broker, "alice");
        await using var bob = await StartAsync(broker, "bob");
        await bob.WaitForOutputLineAsync("*** currently online: alice");
        await alice.WaitForOutputLineAsync("*** bob joined the chat");

        // alice opens dev and talks there; bob joins and gets that line as history.
        await alice.WriteLineAsync("/join dev");
        await alice.WaitForOutputLineAsync("*** joined dev (nobody else here)");
        await alice.WriteLineAsync("hello dev");
        await alice.WaitForOutputLineAsync("<alice> hello dev");
        await bob.WriteLineAsync("/join dev");
        await bob.WaitForOutputLineAsync("*** joined dev (online: alice)");
        await bob.WaitForOutputLineAsync("(history) <alice> hello dev");
        await alice.WaitForOutputLineAsync("*** bob joined the chat");

        // A chat in the current room, then one in the other room after /switch.
        await bob.WriteLineAsync("hi from dev");
        await bob.WaitForOutputLineAsync("<bob> hi from dev");
        await alice.WaitForOutputLineAsync("<bob> hi from dev");
        await bob.WriteLineAsync("/switch lobby");
        await bob.WriteLineAsync("in the lobby");
        await bob.WaitForOutputLineAsync("<bob> in the lobby");
        await alice.WaitForOutputLineAsync("[lobby] <bob> in the lobby");

        // Direct messages: to a version 2 user, and to a version 1 user, who cannot get them.
        await alice.WriteLineAsync("/msg bob psst");
        await alice.WaitForOutputLineAsync("-> *bob* psst");
        await bob.WaitForOutputLineAsync("*alice* psst");
        await using var carol = await RawClient.JoinAsync(broker.LocalEndPoint, "carol");
        await carol.ExpectAsync<RosterMessage>();
        await alice.WaitForOutputLineAsync("[lobby] *** carol joined the chat");
        await bob.WaitForOutputLineAsync("*** carol joined the chat");
        await alice.WriteLineAsync("/msg carol hi");
        await alice.WaitForErrorLineAsync(line => line == "!!! 'carol' cannot receive direct messages", "the refusal");

        // The requests.
        await alice.WriteLineAsync("/who");
        await alice.WaitForOutputLineAsync("*** in dev: alice, bob");
        await alice.WriteLineAsync("/who lobby");
        await alice.WaitForOutputLineAsync("*** in lobby: alice, bob, carol");
        await alice.WriteLineAsync("/rooms");
        await alice.WaitForOutputLineAsync("*** rooms: dev (2), lobby (3)");

        // An unknown command is a hint and sends nothing; //text sends /text.
        await alice.WriteLineAsync("/nosuch thing");
        await alice.WaitForErrorLineAsync(line => line.StartsWith("!!! unknown command /nosuch", StringComparison.Ordinal), "the hint");
        await alice.WriteLineAsync("//slash");
        await alice.WaitForOutputLineAsync("<alice> /slash");
        await bob.WaitForOutputLineAsync("[dev] <alice> /slash");

        // Leaving the current room falls back to the lobby, where plain lines then go.
        await alice.WriteLineAsync("/leave");
        await alice.WaitForOutputLineAsync("*** left dev");
        await bob.WaitForOutputLineAsync("[dev] *** alice left the chat");
        await alice.WriteLineAsync("/leave dev");
        await alice.WaitForErrorLineAsync(line => line == "!!! not in room 'dev'", "the refusal");
        await alice.WriteLineAsync("back in the lobby");
        await carol.ExpectChatAsync("alice", "back in the lobby");
        await alice.WaitForOutputLineAsync("<alice> back in the lobby");
        await alice.WriteLineAsync("/quit");

        Assert.That(await alice.WaitForExitAsync(), Is.EqualTo(0), alice.Transcript());
        await bob.WaitForOutputLineAsync("*** alice left the chat");
        Assert.That(alice.OutputLines, Is.EqualTo(new[]
        {
            "*** connected as alice",
            "*** bob joined the chat",
            "*** joined dev (nobody else here)",
            "<alice> hello dev",
            "*** bob joined the chat",
            "<bob> hi from dev",
            "[lobby] <bob> in the lobby",
            "-> *bob* psst",
            "[lobby] *** carol joined the chat",
            "*** in dev: alice, bob",
            "*** in lobby: alice, bob, carol",
            "*** rooms: dev (2), lobby (3)",
            "<alice> /slash",
            "*** left dev",
            "<alice> back in the lobby",
            "*** leaving chat",
        }), alice.Transcript());
        Assert.That(alice.ErrorLines, Is.EqualTo(new[]
        {
            "!!! 'carol' cannot receive direct messages",
            "!!! unknown command /nosuch: /help lists the commands, //nosuch sends it as text",
            "!!! not in room 'dev'",
        }), "each refusal prints once");
        Assert.That(bob.OutputLines, Is.EqualTo(new[]
        {
            "*** connected as bob",
            "*** currently online: alice",
            "*** joined dev (online: alice)",
            "(history) <alice> hello dev",
            "<bob> hi from dev",
            "<bob> in the lobby",
            "*alice* psst",
            "*** carol joined the chat",
            "[dev] <alice> /slash",
            "[dev] *** alice left the chat",
            "<alice> back in the lobby",
            "*** alice left the chat",
        }), bob.Transcript());
        Assert.That(bob.ErrorLines, Is.Empty);
    }

    [Test]
    public async Task Lines_typed_without_waiting_go_where_the_commands_before_them_say()
    {
        await using var broker = await TestBroker.StartAsync();
        await using var lobbyist = await RawClient.JoinAsync(broker.LocalEndPoint, "lobbyist");
        await using var watcher = await ChatClient.ConnectAsync(broker.LocalEndPoint, "watcher", ChatClientOptions.Default with { Capabilities = ChatCapabilities.All });
        await using var dev = await watcher.JoinAsync("dev");
        await using var alice = CliProcess.Start("client", "--nickname", "alice", "--server", broker.LocalEndPoint.ToString());
        foreach (var line in new[] { "/join dev", "to dev", "/switch lobby", "to lobby", "/who dev", "/quit" })
        {
            await alice.WriteLineAsync(line);
        }

        Assert.That(await alice.WaitForExitAsync(), Is.EqualTo(0), alice.Transcript());
        using var timeout = new CancellationTokenSource(CliProcess.Deadline);
        await foreach (var chat in dev.ReadMessagesAsync(timeout.Token))
        {
            Assert.That((chat.Nickname, chat.Text, chat.Room), Is.EqualTo(("alice", "to dev", "dev")), "dev gets only the line typed after /join dev");
            break;
        }

        Assert.That(await NextChatFromAsync(lobbyist, "alice"), Is.EqualTo("to lobby"), "the lobby gets only the line typed after /switch lobby");
        Assert.That(alice.OutputLines.Take(3), Is.EqualTo(new[] { "*** connected as alice", "*** currently online: lobbyist", "*** joined dev (online: watcher)" }), alice.Transcript());
        Assert.That(alice.OutputLines, Has.Member("*** in dev: watcher, alice"));
        Assert.That(alice.OutputLines[^1], Is.EqualTo("*** leaving chat"));
        Assert.That(alice.ErrorLines, Is.Empty, alice.Transcript());
    }

    [TestCase(true)]
    [TestCase(false)]
    public async Task A_lobby_session_looks_exactly_like_version_1_against_either_broker(bool brokerSpeaksVersion2)
    {
        await using var broker = await TestBroker.StartAsync(options => brokerSpeaksVersion2 ? options : options with { Capabilities = [] });
        await using var bob = await RawClient.JoinAsync(broker.LocalEndPoint, "bob");
        await using var alice = await StartAsync(broker, "alice");
        await alice.WaitForOutputLineAsync("*** currently online: bob");
        await using var carol = await RawClient.JoinAsync(broker.LocalEndPoint, "carol");
        await alice.WaitForOutputLineAsync("*** carol joined the chat");
        await bob.SendChatAsync("hi \u001b[2J");
        await alice.WaitForOutputLineAsync(@"<bob> hi \x1b[2J");
        await alice.WriteLineAsync("hello");
        Assert.That(await NextChatFromAsync(bob, "alice"), Is.EqualTo("hello"));
        await alice.WaitForOutputLineAsync("<alice> hello");
        await bob.DisposeAsync();
        await alice.WaitForOutputLineAsync("*** bob left the chat");
        await alice.WriteLineAsync("/quit");

        Assert.That(await alice.WaitForExitAsync(), Is.EqualTo(0), alice.Transcript());
        Assert.That(alice.OutputLines, Is.EqualTo(new[]
        {
            "*** connected as alice",
            "*** currently online: bob",
            "*** carol joined the chat",
            @"<bob> hi \x1b[2J",
            "<alice> hello",
            "*** bob left the chat",
            "*** leaving chat",
        }), alice.Transcript());
        Assert.That(alice.ErrorLines, Is.Empty);
    }

    [Test]
    public async Task Against_a_version_1_broker_the_version_2_commands_say_so_and_send_nothing()
    {
        await using var broker = await TestBroker.StartAsync(options => options with { Capabilities = [] });
        await using var bob = await RawClient.JoinAsync(broker.LocalEndPoint, "bob");
        await using var alice = await StartAsync(broker, "alice");
        foreach (var line in new[] { "/join dev", "/msg bob hi", "/rooms", "/who", "/nosuch", "//slash" })
        {
            await alice.WriteLineAsync(line);
        }

        Assert.That(await NextChatFromAsync(bob, "alice"), Is.EqualTo("/slash"), "the first chat bob sees from alice is the //line");
        await alice.WaitForOutputLineAsync("<alice> /slash");
        await alice.WriteLineAsync("/quit");

        Assert.That(await alice.WaitForExitAsync(), Is.EqualTo(0), alice.Transcript());
        Assert.That(alice.OutputLines, Is.EqualTo(new[]
        {
            "*** connected as alice",
            "*** currently online: bob",
            "*** currently online: bob",
            "<alice> /slash",
            "*** leaving chat",
        }), alice.Transcript());
        Assert.That(alice.ErrorLines, Is.EqualTo(new[]
        {
            "!!! /join needs rooms, which this broker does not offer (version 1)",
            "!!! /msg needs direct messages, which this broker does not offer (version 1)",
            "!!! /rooms needs rooms, which this broker does not offer (version 1)",
            "!!! unknown command /nosuch: /help lists the commands, //nosuch sends it as text",
        }), alice.Transcript());
    }

    [Test]
    public async Task Json_mode_prints_the_version_2_messages_too()
    {
        await using var broker = await TestBroker.StartAsync();
        await using var alice = CliProcess.Start("client", "--nickname", "alice", "--server", broker.LocalEndPoint.ToString(), "--json");
        await alice.WaitForOutputLineAsync(line => line.Contains("\"joined\"", StringComparison.Ordinal), "the lobby's joined");
        await alice.WriteLineAsync("/join dev");
        await alice.WriteLineAsync("hi");
        await alice.WriteLineAsync("/msg alice me");
        await alice.WaitForOutputLineAsync(line => line.Contains("\"direct\"", StringComparison.Ordinal), "the direct message");
        await alice.WriteLineAsync("/quit");

        Assert.That(await alice.WaitForExitAsync(), Is.EqualTo(0), alice.Transcript());
        var messages = alice.OutputLines.Select(Decode).ToList();
        Assert.That(messages, Has.Count.EqualTo(5), alice.Transcript());
        Assert.That(alice.OutputLines[0], Is.EqualTo("""{"type":"welcome","nickname":"alice","capabilities":["rooms","direct","history","meta"],"max_line_length":8192}"""), "the welcome as granted, without the session secret");
        Assert.That(messages[1], Is.InstanceOf<JoinedMessage>().With.Property(nameof(JoinedMessage.Room)).EqualTo("lobby"));
        Assert.That(messages[2], Is.InstanceOf<JoinedMessage>().With.Property(nameof(JoinedMessage.Room)).EqualTo("dev"));
        Assert.That(messages[3], Is.InstanceOf<ChatBroadcastMessage>().With.Property(nameof(ChatBroadcastMessage.Room)).EqualTo("dev"));
        Assert.That(messages[4], Is.InstanceOf<DirectDeliveryMessage>().With.Property(nameof(DirectDeliveryMessage.Text)).EqualTo("me"));
        Assert.That(alice.ErrorLines, Is.EqualTo(new[] { "*** leaving chat" }));
    }

    [Test]
    public async Task A_line_longer_than_the_broker_announced_is_refused_and_not_sent()
    {
        await using var broker = await TestBroker.StartAsync(options => options with { MaxLineLength = 200 });
        await using var bob = await RawClient.JoinAsync(broker.LocalEndPoint, "bob");
        await using var alice = await StartAsync(broker, "alice");
        await alice.WriteLineAsync(new string('x', 300));
        await alice.WaitForErrorLineAsync(line => line.StartsWith("!!! line not sent: it is ", StringComparison.Ordinal) && line.EndsWith("the broker accepts at most 200", StringComparison.Ordinal), "the refusal");
        await alice.WriteLineAsync("short");
        Assert.That(await NextChatFromAsync(bob, "alice"), Is.EqualTo("short"), "the long line was not sent");
        await alice.WriteLineAsync("/quit");

        Assert.That(await alice.WaitForExitAsync(), Is.EqualTo(0), alice.Transcript());
        Assert.That(alice.ErrorLines, Has.Count.EqualTo(1), alice.Transcript());
    }

    [Test]
    public async Task A_cut_connection_comes_back_by_itself_and_says_what_was_recovered()
    {
        await using var broker = await TestBroker.StartAsync();
        await using var proxy = TcpProxy.Start(broker.LocalEndPoint);
        await using var bob = await ChatClient.ConnectAsync(broker.LocalEndPoint, "bob", ChatClientOptions.Default with { Capabilities = ChatCapabilities.All });
        await using var dev = await bob.JoinAsync("dev");
        await using var alice = CliProcess.Start("client", "--nickname", "alice", "--server", proxy.EndPoint.ToString());
        await alice.WaitForOutputLineAsync("*** connected as alice");
        await alice.WriteLineAsync("/join dev");
        await alice.WaitForOutputLineAsync("*** joined dev (online: bob)");
        await alice.WriteLineAsync("/switch lobby");
        await dev.SendAsync("seen");
        await alice.WaitForOutputLineAsync("[dev] <bob> seen");

        // The network drops alice; what bob says meanwhile is replayed when she is back.
        proxy.CutClients();
        await dev.SendAsync("missed 1");
        await dev.SendAsync("missed 2");

        await alice.WaitForOutputLineAsync("*** server closed the connection");
        await alice.WaitForOutputLineAsync(line => line.StartsWith("*** reconnecting in ", StringComparison.Ordinal) && line.EndsWith(" s (attempt 1)", StringComparison.Ordinal), "the first attempt");
        await alice.WaitForOutputLineAsync("*** reconnected; 0 missed messages recovered");
        await alice.WaitForOutputLineAsync("(history) [dev] <bob> missed 1");
        await alice.WaitForOutputLineAsync("(history) [dev] <bob> missed 2");
        await alice.WaitForOutputLineAsync("[dev] *** reconnected; 2 missed messages recovered");
        await alice.WriteLineAsync("/switch dev");
        await alice.WriteLineAsync("back");
        await alice.WaitForOutputLineAsync("<alice> back");
        await alice.WriteLineAsync("/quit");

        Assert.That(await alice.WaitForExitAsync(), Is.EqualTo(0), alice.Transcript());
        Assert.That(alice.OutputLines.Count(line => line.StartsWith("*** joined dev", StringComparison.Ordinal)), Is.EqualTo(1), "the rejoin is the reconnected line, not another joined:\n" + alice.Transcript());
    }

    [Test]
    public async Task A_restarted_broker_is_reconnected_to_and_messages_may_be_missing()
    {
        var broker = await TestBroker.StartAsync();
        var endPoint = broker.LocalEndPoint;
        await using var alice = await StartAsync(broker, "alice");
        await broker.StopAsync();
        await broker.DisposeAsync();
        await alice.WaitForOutputLineAsync("*** server closed the connection");
        await alice.WaitForOutputLineAsync(line => line.StartsWith("*** reconnecting in ", StringComparison.Ordinal), "a reconnect attempt");

        await using var again = await TestBroker.StartAsync(options => options with { EndPoint = endPoint });
        await alice.WaitForOutputLineAsync("*** reconnected; messages may be missing");
        await using var bob = await RawClient.JoinAsync(endPoint, "bob");
        await alice.WaitForOutputLineAsync("*** bob joined the chat");
        await alice.WriteLineAsync("/quit");

        Assert.That(await alice.WaitForExitAsync(), Is.EqualTo(0), alice.Transcript());
        Assert.That(alice.ErrorLines, Is.EqualTo(new[] { "!!! broker shutting down" }), alice.Transcript());
    }

    [Test]
    public async Task Back_after_a_broker_restart_the_rooms_are_not_announced_as_joined_again()
    {
        var broker = await TestBroker.StartAsync();
        var endPoint = broker.LocalEndPoint;
        await using var alice = await StartAsync(broker, "alice");
        await using var bob = await StartAsync(broker, "bob");
        await alice.WriteLineAsync("/join dev");
        await alice.WaitForOutputLineAsync("*** joined dev (nobody else here)");
        await bob.WriteLineAsync("/join dev");
        await bob.WaitForOutputLineAsync("*** joined dev (online: alice)");
        await alice.WaitForOutputLineAsync("*** bob joined the chat");

        await broker.StopAsync();
        await broker.DisposeAsync();
        await alice.WaitForOutputLineAsync(line => line.StartsWith("*** reconnecting in ", StringComparison.Ordinal), "a reconnect attempt");
        await bob.WaitForOutputLineAsync(line => line.StartsWith("*** reconnecting in ", StringComparison.Ordinal), "a reconnect attempt");
        await using var again = await TestBroker.StartAsync(options => options with { EndPoint = endPoint });
        await alice.WaitForOutputLineAsync("*** reconnected; messages may be missing");
        await bob.WaitForOutputLineAsync("*** reconnected; messages may be missing");
        await bob.WriteLineAsync("/who");
        await bob.WaitForOutputLineAsync(line => line.StartsWith("*** in dev: ", StringComparison.Ordinal) && line.Contains("alice", StringComparison.Ordinal), "both back in dev");
        await bob.WriteLineAsync("after the restart");
        await alice.WaitForOutputLineAsync("<bob> after the restart");
        await alice.WriteLineAsync("/quit");
        await bob.WriteLineAsync("/quit");

        Assert.That(await alice.WaitForExitAsync(), Is.EqualTo(0), alice.Transcript());
        Assert.That(await bob.WaitForExitAsync(), Is.EqualTo(0), bob.Transcript());
        foreach (var client in new[] { alice, bob })
        {
            Assert.That(client.OutputLines.Count(line => line.StartsWith("*** joined dev", StringComparison.Ordinal)), Is.EqualTo(1), "no second joined line:\n" + client.Transcript());
            Assert.That(client.OutputLines.Count(line => line.StartsWith("*** currently online", StringComparison.Ordinal)), Is.LessThanOrEqualTo(1), "no second lobby roster:\n" + client.Transcript());
        }
    }

    [Test]
    public async Task History_shows_the_last_chats_of_the_current_room_marked_as_history()
    {
        await using var broker = await TestBroker.StartAsync();
        await using var bob = await ChatClient.ConnectAsync(broker.LocalEndPoint, "bob", ChatClientOptions.Default with { Capabilities = ChatCapabilities.All });
        await using var dev = await bob.JoinAsync("dev");
        for (var i = 1; i <= 25; i++)
        {
            await dev.SendAsync($"line {i}");
        }

        // Sent lines are in the room's history once bob has seen his own last one.
        using (var seen = new CancellationTokenSource(CliProcess.Deadline))
        {
            await foreach (var chat in dev.ReadMessagesAsync(seen.Token))
            {
                if (chat.Text == "line 25")
                {
                    break;
                }
            }
        }

        await using var alice = await StartAsync(broker, "alice");
        await alice.WriteLineAsync("/join dev");
        await alice.WaitForOutputLineAsync("(history) <bob> line 25");
        await dev.SendAsync("live");
        await alice.WaitForOutputLineAsync("<bob> live");
        await alice.WriteLineAsync("/history 22");
        await alice.WriteLineAsync("/history 1001");
        await alice.WaitForErrorLineAsync(line => line == "!!! usage: /history [N] (N from 1 to 1000)", "the refusal");
        await alice.WriteLineAsync("/switch lobby");
        await alice.WriteLineAsync("/history");
        await alice.WaitForOutputLineAsync("*** no history in lobby");
        await alice.WriteLineAsync("/quit");

        Assert.That(await alice.WaitForExitAsync(), Is.EqualTo(0), alice.Transcript());
        var joined = alice.OutputLines.ToList().IndexOf("*** joined dev (online: bob)");
        Assert.That(alice.OutputLines.Skip(joined + 1).Take(20), Is.EqualTo(Enumerable.Range(6, 20).Select(i => $"(history) <bob> line {i}")), "the join shows the last 20:\n" + alice.Transcript());
        Assert.That(alice.OutputLines.Skip(joined + 22).Take(22), Is.EqualTo(Enumerable.Range(5, 21).Select(i => $"(history) <bob> line {i}").Append("(history) <bob> live")), "/history 22: the 21 kept from the join and the live one:\n" + alice.Transcript());
    }

    [Test]
    public async Task With_no_reconnect_a_lost_connection_exits_0_as_version_1_does()
    {
        await using var broker = await TestBroker.StartAsync();
        await using var alice = CliProcess.Start("client", "--nickname", "alice", "--server", broker.LocalEndPoint.ToString(), "--no-reconnect");
        await alice.WaitForOutputLineAsync("*** connected as alice");

        await broker.StopAsync();

        Assert.That(await alice.WaitForExitAsync(), Is.EqualTo(0), alice.Transcript());
        Assert.That(alice.OutputLines, Is.EqualTo(new[] { "*** connected as alice", "*** server closed the connection" }), alice.Transcript());
        Assert.That(alice.ErrorLines, Is.EqualTo(new[] { "!!! broker shutting down" }), alice.Transcript());
    }

    private static async Task<CliProcess> StartAsync(ChatBroker broker, string nickname)
    {
        var cli = CliProcess.Start("client", "--nickname", nickname, "--server", broker.LocalEndPoint.ToString());
        await cli.WaitForOutputLineAsync($"*** connected as {nickname}");
        return cli;
    }

    private static async Task<string> NextChatFromAsync(RawClient client, string nickname)
    {
        while (true)
        {
            if (await client.ReceiveAsync() is ChatBroadcastMessage chat && chat.Nickname == nickname)
            {
                return chat.Text;
            }
        }
    }

    private static ServerMessage Decode(string line) =>
        MessageDecoder.TryDecodeServerMessage(Encoding.UTF8.GetBytes(line), out var message, out var error)
            ? message
            : throw new AssertionException($"{error}: {line}");
}
