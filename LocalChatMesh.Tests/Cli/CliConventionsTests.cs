using LocalChatMesh.Cli;
using LocalChatMesh.Cli.Commands;
using LocalChatMesh.Protocol;
using LocalChatMesh.Tests.Support;

namespace LocalChatMesh.Tests.Cli;

/// <summary>What every command shares: help exits 0, one error style, documented exit codes (docs/cli.md).</summary>
public class CliConventionsTests
{
    [TestCase("--help")]
    [TestCase("-h")]
    [TestCase("client", "--help")]
    [TestCase("broker", "--help")]
    [TestCase("bench", "--help")]
    [TestCase("soak", "--help")]
    public async Task Help_exits_0_and_names_the_tool(params string[] arguments)
    {
        await using var cli = CliProcess.Start(arguments);

        Assert.That(await cli.WaitForExitAsync(), Is.EqualTo(0), cli.Transcript());
        Assert.That(cli.OutputLines, Is.Not.Empty, cli.Transcript());
        Assert.That(cli.OutputLines[0], Does.StartWith("Usage: chatmesh"), cli.Transcript());
        Assert.That(cli.ErrorLines, Is.Empty);
    }

    [TestCase(new[] { "client" }, "error: Option '--nickname' is required")]
    [TestCase(new[] { "client", "--nickname", "a", "--bogus" }, "error: Unknown option 'bogus'")]
    [TestCase(new[] { "nonsense" }, "error: 'nonsense' is not a command")]
    [TestCase(new[] { "broker", "--max-clients", "many" }, "error: Option 'max-clients' requires Int32 value")]
    [TestCase(new[] { "broker", "--max-clients", "0" }, "error: --max-clients must be at least 1; it is 0.")]
    [TestCase(new[] { "broker", "--listen", "10.1.2.3:0" }, "error: 10.1.2.3 is not a loopback address: the chat would be reachable from other machines. Pass --allow-remote to listen there.")]
    [TestCase(new[] { "broker", "--max-line-length", "10" }, "error: --max-line-length must be at least 64 bytes; it is 10.")]
    [TestCase(new[] { "broker", "--lag-grace", "3", "--disconnect-grace", "1.5" }, "error: --disconnect-grace must be greater than --lag-grace; it is 1.5 s.")]
    [TestCase(new[] { "broker", "--listen", "nowhere" }, "error: --listen: ")]
    [TestCase(new[] { "broker", "--history", "-1" }, "error: --history must be zero or positive; it is -1.")]
    [TestCase(new[] { "broker", "--history-days", "0" }, "error: --history-days must be positive; it is 0 s.")]
    [TestCase(new[] { "broker", "--history-memory", "0" }, "error: --history-memory must be from 1 to 1048576 megabytes; it is 0.")]
    [TestCase(new[] { "broker", "--max-rooms", "0" }, "error: --max-rooms must be at least 1; it is 0.")]
    [TestCase(new[] { "broker", "--max-rooms-per-client", "0" }, "error: --max-rooms-per-client must be at least 1; it is 0.")]
    [TestCase(new[] { "client", "--nickname", "a", "--server", "localhost:http" }, "error: --server: ")]
    public async Task Usage_errors_exit_2_with_one_error_line(string[] arguments, string expected)
    {
        await using var cli = CliProcess.Start(arguments);

        Assert.That(await cli.WaitForExitAsync(), Is.EqualTo(2), cli.Transcript());
        Assert.That(cli.ErrorLines, Has.Count.EqualTo(1), cli.Transcript());
        Assert.That(cli.ErrorLines[0], Does.StartWith(expected), cli.Transcript());
        Assert.That(cli.OutputLines, Is.Empty, cli.Transcript());
    }

    [Test]
    public async Task Log_levels_are_listed_once_in_the_brokers_help()
    {
        await using var cli = CliProcess.Start("broker", "--help");
        await cli.WaitForExitAsync();

        var line = cli.OutputLines.Single(l => l.TrimStart().StartsWith("--log-level", StringComparison.Ordinal));
        Assert.That(line.Split("Warning").Length - 1, Is.EqualTo(1), line);
    }

    [TestCase(0, new[] { "--help" }, false, ExpectedResult = 0)]
    [TestCase(129, new[] { "--help" }, false, ExpectedResult = 0)]
    [TestCase(129, new[] { "client", "-h" }, false, ExpectedResult = 0)]
    [TestCase(129, new[] { "client", "--bogus" }, true, ExpectedResult = 2)]
    [TestCase(1, new[] { "client" }, true, ExpectedResult = 2)]
    [TestCase(1, new[] { "client", "--nickname", "a" }, false, ExpectedResult = 1)]
    [TestCase(0, new[] { "broker" }, false, ExpectedResult = 0)]
    public int Coconas_exit_codes_are_made_consistent(int exitCode, string[] arguments, bool usageError) =>
        ExitCodes.FromCocona(exitCode, arguments, usageError);

    [TestCase("MaxClients must be at least 1; it is 0.", "MaxClients", "--max-clients must be at least 1; it is 0.")]
    [TestCase("OutboundSoftLimitBytes must be at least MaxLineLength; it is 10.", "OutboundSoftLimitBytes", "--queue-soft-limit must be at least --max-line-length; it is 10.")]
    [TestCase("MaxMessagesPerSecond must be positive, or null for no limit; it is -1.", "MaxMessagesPerSecond", "--rate-limit must be positive, or null for no limit; it is -1.")]
    [TestCase("DrainTimeout must be zero or positive; it is -00:00:01.", "DrainTimeout", "--drain-timeout must be zero or positive; it is -1 s.")]
    public void Broker_option_errors_name_the_flag(string message, string property, string expected)
    {
        var exception = new ArgumentOutOfRangeException(property, 0, message);

        Assert.That(FlagErrors.Translate(exception), Is.EqualTo(expected));
    }

    [Test]
    public async Task A_line_too_long_for_the_broker_is_refused_before_it_is_sent()
    {
        using var broker = FakeBroker.Start();
        await using var cli = CliProcess.Start("client", "--nickname", "alice", "--server", broker.EndPoint.ToString());
        using var connection = await broker.AcceptAndWelcomeAsync();
        await cli.WaitForOutputLineAsync("*** connected as alice");

        // The broker counts the encoded line without its newline: {"type":"chat","text":""} around the text.
        var overhead = MessageEncoder.Encode(new ChatMessage("")).Length - 1;
        var fits = new string('x', 8192 - overhead);
        await cli.WriteLineAsync(fits + "y");
        await cli.WaitForErrorLineAsync(line => line.StartsWith("!!! line not sent", StringComparison.Ordinal), "refusing the line");
        await cli.WriteLineAsync(fits);

        var sent = await connection.ReadMessageAsync<ChatMessage>();
        Assert.That(sent.Text, Is.EqualTo(fits), "the refused line never went out; the next one did");
        Assert.That(MessageEncoder.Encode(sent).Length - 1, Is.EqualTo(8192));
        Assert.That(cli.ErrorLines, Is.EqualTo(new[] { "!!! line not sent: it is 8193 bytes as sent, and the broker accepts at most 8192" }));
        await cli.WriteLineAsync("/quit");
        Assert.That(await connection.ReadLineAsync(), Is.Null, "the connection is still alive and leaves cleanly");
        connection.Close();
        Assert.That(await cli.WaitForExitAsync(), Is.EqualTo(0), cli.Transcript());
    }
}
