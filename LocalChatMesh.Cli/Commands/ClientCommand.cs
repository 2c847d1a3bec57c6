using System.Net;
using System.Text;
using Cocona;
using LocalChatMesh.Cli.Terminal;
using LocalChatMesh.Cli.Terminal.Screen;

namespace LocalChatMesh.Cli.Commands;

/// <summary>The <c>client</c> command: a terminal chat client.</summary>
public sealed class ClientCommand : CoconaConsoleAppBase
{
    private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false);

    /// <summary>Joins a broker's chat: the interactive screen at a terminal, plain lines on standard input and output otherwise.</summary>
    [Command("client", Description = "Join a chat: interactive at a terminal (plain lines when piped or with --plain); /help lists the commands, /quit leaves")]
    public async Task<int> ClientAsync(
        [Option("nickname", Description = "The nickname to use")] string nickname,
        [Option("server", Description = "The broker's address, HOST:PORT; several brokers of one cluster as HOST:PORT,HOST:PORT (failover)")] string server = "127.0.0.1:5000",
        [Option("json", Description = "Print each server message as its JSON line (for scripts)")] bool json = false,
        [Option("plain", Description = "Plain lines even on a terminal (the default when input or output is not a terminal)")] bool plain = false,
        [Option("no-color", Description = "No colours in interactive mode (also when NO_COLOR is set)")] bool noColor = false,
        [Option("no-reconnect", Description = "Exit when the connection is lost instead of coming back by itself")] bool noReconnect = false)
    {
        // Raw streams rather than Console.In/Out: UTF-8 regardless of locale, and no console state to restore.
        await using var error = new StreamWriter(Console.OpenStandardError(), Utf8);
        // Several brokers of one cluster, comma-separated: the first that answers, the others on failover.
        var endPoints = new List<IPEndPoint>();
        foreach (var address in server.Split(',', StringSplitOptions.TrimEntries))
        {
            if (!ChatEndPoint.TryParse(address, out var endPoint, out var problem))
            {
                await error.WriteLineAsync($"error: --server: {problem}");
                await error.FlushAsync();
                return 2;
            }

            endPoints.Add(endPoint);
        }

        await using var output = new StreamWriter(Console.OpenStandardOutput(), Utf8);
        if (!plain && !json && IsTerminal())
        {
            var color = NicknameColors.Enabled(noColor, Environment.GetEnvironmentVariable("NO_COLOR"));
            var interactive = new InteractiveTerminal(output, error, color);
            return await interactive.RunAsync(token => V2ChatSession.ConnectAsync(endPoints, nickname, !noReconnect, token), Context.CancellationToken);
        }

        // Standard input is never disposed: its reader thread may still be blocked in a read.
        var input = new StreamReader(Console.OpenStandardInput(), Utf8);
        var terminal = new ChatTerminal(input, output, error, json);
        return await terminal.RunAsync(token => V2ChatSession.ConnectAsync(endPoints, nickname, !noReconnect, token), Context.CancellationToken);
    }

    // Interactive mode needs a person at a real terminal on both ends; TERM=dumb cannot draw a screen.
    private static bool IsTerminal() =>
        !Console.IsInputRedirected && !Console.IsOutputRedirected
        && !string.Equals(Environment.GetEnvironmentVariable("TERM"), "dumb", StringComparison.Ordinal);
}
