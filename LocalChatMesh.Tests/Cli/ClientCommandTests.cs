using System.Net.Sockets;
using System.Text;
using LocalChatMesh.Protocol;
using LocalChatMesh.Tests.Support;

namespace LocalChatMesh.Tests.Cli;

/// <summary>The built <c>chatmesh client</c> as a separate process, against a scripted fake broker.</summary>
public class ClientCommandTests
{
    [Test]
    public async Task Prints_a_line_for_each_server_message_and_sends_typed_lines()
    {
        using var broker = FakeBroker.Start();
        await using var cli = CliProcess.Start("client", "--nickname", " alice ", "--server", broker.EndPoint.ToString());
        using var connection = await broker.AcceptAndWelcomeAsync(new RosterMessage(["bob", "carol"]));
        await cli.WaitForOutputLineAsync("*** currently online: bob, carol");

        await connection.SendAsync(
            new UserJoinedMessage("dave"),
            new ChatBroadcastMessage("bob", "hi \u001b[2Jthere\u202e"),
            new ErrorMessage("you are behind by 3 messages; consider reconnecting"),
            new UserLeftMessage("bob"));
        await cli.WaitForOutputLineAsync("*** bob left the chat");
        await cli.WriteLineAsync("");
        await cli.WriteLineAsync("   ");
        await cli.WriteLineAsync("hello world ✓");
        var sent = await connection.ReadMessageAsync<ChatMessage>();
        await connection.SendAsync(new ChatBroadcastMessage("alice", sent.Text));
        await cli.WaitForOutputLineAsync("<alice> hello world ✓");
        await cli.WriteLineAsync("/quit");

        Assert.That(await connection.ReadLineAsync(), Is.Null, "the broker sees a clean leave");
        connection.Close();
        Assert.That(await cli.WaitForExitAsync(), Is.EqualTo(0), cli.Transcript());
        Assert.That(sent.Text, Is.EqualTo("hello world ✓"), "blank lines are not sent");
        Assert.That(cli.OutputLines, Is.EqualTo(new[]
        {
            "*** connected as alice",
            "*** currently online: bob, carol",
            "*** dave joined the chat",
            @"<bob> hi \x1b[2Jthere\u202e",
            "*** bob left the chat",
            "<alice> hello world ✓",
            "*** leaving chat",
        }));
        Assert.That(cli.ErrorLines, Is.EqualTo(new[] { "!!! you are behind by 3 messages; consider reconnecting" }));
    }

    [Test]
    public async Task End_of_input_leaves_quietly_with_exit_code_0()
    {
        using var broker = FakeBroker.Start();
        await using var cli = CliProcess.Start("client", "--nickname", "alice", "--server", broker.EndPoint.ToString());
        using var connection = await broker.AcceptAndWelcomeAsync();
        await cli.WaitForOutputLineAsync("*** connected as alice");

        cli.CloseInput();

        Assert.That(await connection.ReadLineAsync(), Is.Null, "the broker sees a clean leave");
        connection.Close();
        Assert.That(await cli.WaitForExitAsync(), Is.EqualTo(0), cli.Transcript());
        Assert.That(cli.OutputLines, Is.EqualTo(new[] { "*** connected as alice" }));
        Assert.That(cli.ErrorLines, Is.Empty);
    }

    [Test]
    public async Task When_the_broker_closes_it_says_so_and_exits_without_waiting_for_input()
    {
        using var broker = FakeBroker.Start();
        await using var cli = CliProcess.Start("client", "--nickname", "alice", "--server", broker.EndPoint.ToString());
        using var connection = await broker.AcceptAndWelcomeAsync();
        await cli.WaitForOutputLineAsync("*** connected as alice");

        await connection.SendAsync(new ErrorMessage("broker shutting down"));
        connection.Close();

        // Standard input stays open: the client must notice the close by itself.
        Assert.That(await cli.WaitForExitAsync(), Is.EqualTo(0), cli.Transcript());
        Assert.That(cli.OutputLines, Is.EqualTo(new[] { "*** connected as alice", "*** server closed the connection" }));
        Assert.That(cli.ErrorLines, Is.EqualTo(new[] { "!!! broker shutting down" }));
    }

    [Test]
    public async Task A_termination_signal_leaves_cleanly_with_exit_code_0()
    {
        Assume.That(OperatingSystem.IsWindows(), Is.False, "signals are Unix");
        using var broker = FakeBroker.Start();
        await using var cli = CliProcess.Start("client", "--nickname", "alice", "--server", broker.EndPoint.ToString());
        using var connection = await broker.AcceptAndWelcomeAsync();
        await cli.WaitForOutputLineAsync("*** connected as alice");

        // SIGTERM, not SIGINT: a child of a non-interactive shell may inherit SIGINT ignored.
        // Cocona cancels the same token for both.
        await cli.SignalAsync("TERM");

        Assert.That(await connection.ReadLineAsync(), Is.Null, "the broker sees a clean leave");
        connection.Close();
        Assert.That(await cli.WaitForExitAsync(), Is.EqualTo(0), cli.Transcript());
        Assert.That(cli.ErrorLines, Is.Empty);
    }

    [Test]
    public async Task A_refused_handshake_exits_1_with_the_brokers_text_on_standard_error()
    {
        using var broker = FakeBroker.Start();
        await using var cli = CliProcess.Start("client", "--nickname", "alice", "--server", broker.EndPoint.ToString());
        using var connection = await broker.AcceptAsync();
        await connection.ReadMessageAsync<HelloMessage>();
        await connection.SendAsync(new ErrorMessage("nickname 'alice' is already in use"));
        connection.Close();

        Assert.That(await cli.WaitForExitAsync(), Is.EqualTo(1), cli.Transcript());
        Assert.That(cli.ErrorLines, Is.EqualTo(new[] { "!!! nickname 'alice' is already in use" }));
        Assert.That(cli.OutputLines, Is.Empty);
    }

    [Test]
    public async Task A_failed_connection_exits_1_with_a_one_line_reason()
    {
        var endPoint = FakeBroker.RefusingEndPoint();
        await using var cli = CliProcess.Start("client", "--nickname", "alice", "--server", endPoint.ToString());

        Assert.That(await cli.WaitForExitAsync(), Is.EqualTo(1), cli.Transcript());
        Assert.That(cli.ErrorLines, Has.Count.EqualTo(1), cli.Transcript());
        Assert.That(cli.ErrorLines[0], Does.StartWith($"!!! could not connect to {endPoint}: ").And.Contains("refused").IgnoreCase);
        Assert.That(cli.OutputLines, Is.Empty);
    }

    [Test]
    public async Task A_bad_server_address_exits_2_with_a_one_line_reason()
    {
        await using var cli = CliProcess.Start("client", "--nickname", "alice", "--server", "localhost:http");

        Assert.That(await cli.WaitForExitAsync(), Is.EqualTo(2), cli.Transcript());
        Assert.That(cli.ErrorLines, Is.EqualTo(new[] { "error: --server: 'http' is not a port number from 0 to 65535" }));
        Assert.That(cli.OutputLines, Is.Empty);
    }

    [Test]
    public async Task Json_mode_prints_every_server_message_as_its_json_line()
    {
        using var broker = FakeBroker.Start();
        await using var cli = CliProcess.Start("client", "--nickname", "alice", "--server", broker.EndPoint.ToString(), "--json");
        ServerMessage[] messages =
        [
            new RosterMessage(["bob"]),
            new UserJoinedMessage("dave"),
            new ChatBroadcastMessage("bob", "hi \u001b[2J\u202e"),
            new ErrorMessage("slow down"),
            new UserLeftMessage("bob"),
        ];
        using var connection = await broker.AcceptAndWelcomeAsync(messages);
        await cli.WaitForOutputLineAsync(line => line.Contains("user_left", StringComparison.Ordinal), "with user_left");
        await cli.WriteLineAsync("/quit");

        Assert.That(await connection.ReadLineAsync(), Is.Null);
        connection.Close();
        Assert.That(await cli.WaitForExitAsync(), Is.EqualTo(0), cli.Transcript());
        Assert.That(cli.OutputLines, Is.EqualTo(new[]
        {
            """{"type":"welcome","nickname":"alice"}""",
            """{"type":"roster","participants":["bob"]}""",
            """{"type":"user_joined","nickname":"dave"}""",
            """{"type":"chat","nickname":"bob","text":"hi \u001B[2J\u202e"}""",
            """{"type":"error","message":"slow down"}""",
            """{"type":"user_left","nickname":"bob"}""",
        }));
        Assert.That(cli.OutputLines.Skip(1).Select(Decode), Is.EqualTo(messages), "each line decodes back to what was sent");
        Assert.That(cli.ErrorLines, Is.EqualTo(new[] { "*** leaving chat" }), "notices stay off standard output");
    }

    private static ServerMessage Decode(string line) =>
        MessageDecoder.TryDecodeServerMessage(Encoding.UTF8.GetBytes(line), out var message, out var error)
            ? message
            : throw new AssertionException(error);
}
