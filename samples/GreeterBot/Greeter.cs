using System.Net;
using LocalChatMesh.Protocol;

namespace LocalChatMesh.Samples.GreeterBot;

/// <summary>
/// A chat bot written with <see cref="ChatClient"/>: it welcomes everybody who joins and answers
/// <c>!echo TEXT</c> with <c>TEXT</c>.
/// </summary>
public static class Greeter
{
    private const string EchoCommand = "!echo ";

    /// <summary>
    /// Joins the chat at <paramref name="endPoint"/> as <paramref name="nickname"/> and answers until
    /// the broker closes the connection or <paramref name="cancellationToken"/> fires; either way
    /// it leaves cleanly.
    /// </summary>
    /// <param name="endPoint">The broker's address.</param>
    /// <param name="nickname">The bot's nickname.</param>
    /// <param name="cancellationToken">Makes the bot leave the chat.</param>
    /// <returns>Why the bot stopped, for its log: asked to, or the broker closed the connection (and what it said last).</returns>
    /// <exception cref="ChatHandshakeException">The broker refused the nickname.</exception>
    /// <exception cref="ChatConnectionException">The broker could not be reached, or the connection failed.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired while connecting.</exception>
    public static async Task<string> RunAsync(IPEndPoint endPoint, string nickname, CancellationToken cancellationToken = default)
    {
        await using var client = await ChatClient.ConnectAsync(endPoint, nickname, cancellationToken: cancellationToken);
        string? lastError = null;
        try
        {
            // One message at a time: while the bot answers, the client buffers what follows.
            await foreach (var message in client.ReadMessagesAsync(cancellationToken))
            {
                if (message is ErrorMessage error)
                {
                    lastError = error.Message;
                }

                if (Answer(message, client.Nickname) is { } answer)
                {
                    await client.SendAsync(answer, cancellationToken);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Asked to stop: disposing the client below leaves the chat cleanly.
            return "asked to stop";
        }

        return lastError is null ? "the broker closed the connection" : $"the broker closed the connection ({lastError})";
    }

    /// <summary>What the bot says in reply to <paramref name="message"/>, or null to stay quiet.</summary>
    /// <param name="message">A message from the broker.</param>
    /// <param name="self">The bot's own nickname: it never answers its own lines, so it cannot echo itself forever.</param>
    public static string? Answer(ServerMessage message, string self) => message switch
    {
        UserJoinedMessage joined => $"welcome, {joined.Nickname}!",
        ChatBroadcastMessage chat when chat.Nickname != self && chat.Text.StartsWith(EchoCommand, StringComparison.Ordinal)
            => NullIfBlank(chat.Text[EchoCommand.Length..]),
        _ => null,
    };

    // The broker ignores a blank chat line, so there is no point sending one.
    private static string? NullIfBlank(string text) => string.IsNullOrWhiteSpace(text) ? null : text;
}
