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
        [Option("no-reconnect", Description = "Exit when the connection is lost instead of coming back by itself")] bool noReconnect = false,
        [Option("token", Description = "The broker's shared secret (default: $CHATMESH_TOKEN, else none)")] string? token = null,
        [Option("tls", Description = "Connect with TLS; the broker's certificate must be trusted and issued for the address (or --tls-server-name)")] bool tls = false,
        [Option("tls-ca", Description = "With --tls: trust the CA certificates of this PEM file instead of the system's")] string? tlsCa = null,
        [Option("tls-server-name", Description = "With --tls: the name the broker's certificate must be issued for (default: the address's IP)")] string? tlsServerName = null)
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

        if (ConnectionOptions(token ?? NullIfEmpty(Environment.GetEnvironmentVariable(BrokerCommand.TokenVariable)), tls, tlsCa, tlsServerName, out var connection) is { } optionProblem)
        {
            await error.WriteLineAsync($"error: {optionProblem}");
            await error.FlushAsync();
            return 2;
        }

        await using var output = new StreamWriter(Console.OpenStandardOutput(), Utf8);
        if (!plain && !json && IsTerminal())
        {
            var color = NicknameColors.Enabled(noColor, Environment.GetEnvironmentVariable("NO_COLOR"));
            var interactive = new InteractiveTerminal(output, error, color);
            return await interactive.RunAsync(cancellation => V2ChatSession.ConnectAsync(endPoints, nickname, !noReconnect, connection, cancellation), Context.CancellationToken);
        }

        // Standard input is never disposed: its reader thread may still be blocked in a read.
        var input = new StreamReader(Console.OpenStandardInput(), Utf8);
        var terminal = new ChatTerminal(input, output, error, json);
        return await terminal.RunAsync(cancellation => V2ChatSession.ConnectAsync(endPoints, nickname, !noReconnect, connection, cancellation), Context.CancellationToken);
    }

    /// <summary>The token and TLS settings, or a one-line problem naming the flag.</summary>
    internal static string? ConnectionOptions(string? token, bool tls, string? tlsCa, string? tlsServerName, out ChatClientOptions options)
    {
        options = ChatClientOptions.Default with { Token = token };
        if (!tls)
        {
            return tlsCa is not null || tlsServerName is not null
                ? $"{(tlsCa is not null ? "--tls-ca" : "--tls-server-name")} needs --tls"
                : null;
        }

        if (tlsServerName is not null && string.IsNullOrWhiteSpace(tlsServerName))
        {
            return "--tls-server-name: give a name, such as chat.example.org";
        }

        IReadOnlyList<System.Security.Cryptography.X509Certificates.X509Certificate2> authorities = [];
        if (tlsCa is not null)
        {
            try
            {
                authorities = ChatClientTlsOptions.LoadPemCertificates(tlsCa);
            }
            catch (ChatMeshException exception)
            {
                return $"--tls-ca: {exception.Message}";
            }
        }

        options = options with { Tls = new ChatClientTlsOptions { ServerName = tlsServerName, CertificateAuthorities = authorities } };
        return null;
    }

    private static string? NullIfEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;

    // Interactive mode needs a person at a real terminal on both ends; TERM=dumb cannot draw a screen.
    private static bool IsTerminal() =>
        !Console.IsInputRedirected && !Console.IsOutputRedirected
        && !string.Equals(Environment.GetEnvironmentVariable("TERM"), "dumb", StringComparison.Ordinal);
}
