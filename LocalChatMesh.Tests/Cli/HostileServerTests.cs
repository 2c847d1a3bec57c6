using System.Net.Sockets;
using System.Text;
using LocalChatMesh.Protocol;
using LocalChatMesh.Tests.Support;

namespace LocalChatMesh.Tests.Cli;

/// <summary>
/// <c>chatmesh client</c> pointed at things that are not a chat broker, or a broker that turns
/// hostile: it exits 1 with one line saying what is wrong, never a stack trace, never waiting
/// for ever.
/// </summary>
public class HostileServerTests
{
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(45);

    [Test]
    public async Task An_http_server_gets_a_one_line_failure()
    {
        using var server = FakeBroker.Start();
        await using var cli = StartClient(server);
        using var connection = await server.AcceptAsync();
        await connection.ReadLineAsync();
        await connection.SendRawAsync(Encoding.ASCII.GetBytes("HTTP/1.1 400 Bad Request\r\nContent-Type: text/html\r\nContent-Length: 11\r\nConnection: close\r\n\r\n<html></html>"));
        connection.Close();

        await AssertOneLineFailureAsync(cli);
    }

    [Test]
    public async Task A_port_that_never_answers_times_out_with_a_one_line_failure()
    {
        using var server = FakeBroker.Start();
        await using var cli = StartClient(server);
        using var connection = await server.AcceptAsync();

        // The client's connect timeout (10 s) covers the handshake: no welcome, no wait for ever.
        await AssertOneLineFailureAsync(cli);
    }

    [Test]
    public async Task Garbage_instead_of_a_welcome_gets_a_one_line_failure()
    {
        using var server = FakeBroker.Start();
        await using var cli = StartClient(server);
        using var connection = await server.AcceptAsync();
        await connection.ReadLineAsync();
        await connection.SendRawAsync([0xFF, 0xFE, 0x00, 0x1B, (byte)'[', (byte)'2', (byte)'J', 0x80, (byte)'\n']);

        await AssertOneLineFailureAsync(cli);
    }

    [Test]
    public async Task An_endless_line_gets_a_one_line_failure_without_buffering_it()
    {
        using var server = FakeBroker.Start();
        await using var cli = StartClient(server);
        using var connection = await server.AcceptAsync();
        await connection.ReadLineAsync();
        var chunk = Encoding.ASCII.GetBytes(new string('a', 64 * 1024));
        try
        {
            // A megabyte with no newline: the client gives up at its line limit and closes.
            for (var i = 0; i < 16; i++)
            {
                await connection.SendRawAsync(chunk);
            }
        }
        catch (Exception exception) when (exception is IOException or SocketException)
        {
            // The client closed the connection mid-line: exactly what it should do.
        }

        await AssertOneLineFailureAsync(cli);
    }

    [Test]
    public async Task Garbage_in_the_middle_of_a_session_ends_it_with_one_line()
    {
        using var server = FakeBroker.Start();
        await using var cli = StartClient(server);
        using var connection = await server.AcceptAndWelcomeAsync();
        await cli.WaitForOutputLineAsync("*** connected as alice");

        await connection.SendLineAsync("{\"type\":\"chat\",\"nickname\":");
        await connection.SendRawAsync([0x00, 0xC3, 0x28, (byte)'\n']);

        var exitCode = await cli.WaitForExitAsync(Generous);
        Assert.That(cli.ErrorLines.Concat(cli.OutputLines).Where(IsStackTrace), Is.Empty, cli.Transcript());
        Assert.That(exitCode, Is.AnyOf(0, 1), cli.Transcript());
        Assert.That(cli.OutputLines[0], Is.EqualTo("*** connected as alice"));
    }

    private static CliProcess StartClient(FakeBroker server) =>
        CliProcess.Start("client", "--nickname", "alice", "--server", server.EndPoint.ToString());

    private static async Task AssertOneLineFailureAsync(CliProcess cli)
    {
        var exitCode = await cli.WaitForExitAsync(Generous);
        Assert.Multiple(() =>
        {
            Assert.That(exitCode, Is.EqualTo(1), cli.Transcript());
            Assert.That(cli.ErrorLines, Has.Count.EqualTo(1), cli.Transcript());
            Assert.That(cli.ErrorLines.Count > 0 ? cli.ErrorLines[0] : "", Does.StartWith("!!! "), cli.Transcript());
            Assert.That(cli.ErrorLines.Where(IsStackTrace), Is.Empty, cli.Transcript());
            Assert.That(cli.OutputLines, Is.Empty, cli.Transcript());
        });
    }

    private static bool IsStackTrace(string line) =>
        line.TrimStart().StartsWith("at ", StringComparison.Ordinal) || line.Contains("Exception", StringComparison.Ordinal);
}
