using LocalChatMesh.Protocol;

namespace LocalChatMesh.Cli.Terminal;

/// <summary>One line for the terminal and where it goes.</summary>
/// <param name="Text">The line, without its terminator, safe to print.</param>
/// <param name="IsError">True when it belongs on standard error.</param>
internal readonly record struct TerminalLine(string Text, bool IsError);

/// <summary>
/// Renders server messages as the terminal client's lines (PROTOCOL.md, "Terminal client"), with
/// every string that came from the network passed through <see cref="TextSanitizer"/>.
/// </summary>
internal static class TerminalRenderer
{
    /// <summary>Printed when the user leaves with <c>/quit</c>.</summary>
    public const string LeavingChat = "*** leaving chat";

    /// <summary>Printed when the broker ends the connection.</summary>
    public const string ServerClosed = "*** server closed the connection";

    /// <summary>The line for a server message.</summary>
    public static TerminalLine Render(ServerMessage message) => message switch
    {
        WelcomeMessage welcome => Output($"*** connected as {Safe(welcome.Nickname)}"),
        RosterMessage roster => Output($"*** currently online: {string.Join(", ", roster.Participants.Select(Safe))}"),
        UserJoinedMessage joined => Output($"*** {Safe(joined.Nickname)} joined the chat"),
        UserLeftMessage left => Output($"*** {Safe(left.Nickname)} left the chat"),
        ChatBroadcastMessage chat => Output($"<{Safe(chat.Nickname)}> {Safe(chat.Text)}"),
        ErrorMessage error => Error(error.Message),
        null => throw new ArgumentNullException(nameof(message)),
        _ => throw new ArgumentOutOfRangeException(nameof(message), message, "no rendering for this message type"),
    };

    /// <summary>A problem line for standard error: <c>!!! </c> and the sanitised text.</summary>
    public static TerminalLine Error(string text) => new($"!!! {Safe(text)}", IsError: true);

    private static TerminalLine Output(string text) => new(text, IsError: false);

    private static string Safe(string text) => TextSanitizer.Sanitize(text);
}
