using LocalChatMesh.Protocol;

namespace LocalChatMesh.Cli.Terminal;

/// <summary>Who is looking, for <see cref="SessionRenderer"/>.</summary>
/// <param name="Self">Your nickname.</param>
/// <param name="CurrentRoom">Where plain lines go: chats and presence elsewhere get a <c>[room]</c> tag.</param>
internal sealed record RenderContext(string Self, string CurrentRoom);

/// <summary>
/// The terminal client's lines for server messages, version 1 and 2 (PROTOCOL.md, "Terminal
/// client" and "Terminal client, version 2"). A message without a room (a version 1 broker, or
/// the lobby of a client not granted <c>rooms</c>) renders exactly as version 1 does. Every
/// string from the network goes through <see cref="TextSanitizer"/>.
/// </summary>
internal static class SessionRenderer
{
    /// <summary>The room every client starts in.</summary>
    public const string Lobby = "lobby";

    /// <summary>Marks a chat replayed from history (parentheses cannot occur in a room name).</summary>
    public const string HistoryMark = "(history) ";

    public static bool SameRoom(string? a, string? b) => string.Equals(a ?? Lobby, b ?? Lobby, StringComparison.OrdinalIgnoreCase);

    public static bool IsLobby(string? room) => SameRoom(room, Lobby);

    /// <summary>The line for <paramref name="message"/>, or null when it prints nothing (joining an empty lobby).</summary>
    public static ChatLine? Render(ServerMessage message, RenderContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return message switch
        {
            WelcomeMessage welcome => ChatLine.Notice($"*** connected as {Safe(welcome.Nickname)}"),
            RosterMessage { Room: null } roster => ChatLine.Notice($"*** currently online: {List(roster.Participants)}"),
            RosterMessage roster => ChatLine.Notice($"*** in {Safe(roster.Room!)}: {List(roster.Participants)}"),
            UserJoinedMessage joined => ChatLine.Notice($"{Tag(joined.Room, context)}*** {Safe(joined.Nickname)} joined the chat"),
            UserLeftMessage left => ChatLine.Notice($"{Tag(left.Room, context)}*** {Safe(left.Nickname)} left the chat"),
            ChatBroadcastMessage chat => Chat(chat, context),
            DirectDeliveryMessage direct => Direct(direct, context),
            ErrorMessage error => ChatLine.Error(error.Message),
            JoinedMessage joined => Joined(joined),
            LeftMessage left => ChatLine.Notice($"*** left {Safe(left.Room)}"),
            RoomListMessage list => ChatLine.Notice(list.Rooms.Count == 0
                ? "*** no rooms"
                : $"*** rooms: {string.Join(", ", list.Rooms.Select(r => $"{Safe(r.Room)} ({r.Members})"))}"),
            null => throw new ArgumentNullException(nameof(message)),
            _ => null,
        };
    }

    /// <summary>
    /// Joining the lobby prints what a version 1 client prints after <c>welcome</c> (the roster, or
    /// nothing when nobody else is there), so a lobby session looks the same against either broker.
    /// </summary>
    private static ChatLine? Joined(JoinedMessage joined)
    {
        if (IsLobby(joined.Room))
        {
            return joined.Participants.Count == 0 ? null : ChatLine.Notice($"*** currently online: {List(joined.Participants)}");
        }

        return ChatLine.Notice(joined.Participants.Count == 0
            ? $"*** joined {Safe(joined.Room)} (nobody else here)"
            : $"*** joined {Safe(joined.Room)} (online: {List(joined.Participants)})");
    }

    private static ChatLine Chat(ChatBroadcastMessage chat, RenderContext context)
    {
        var prefix = (chat.History == true ? HistoryMark : "") + Tag(chat.Room, context);
        var sender = $"<{Safe(chat.Nickname)}>";
        return new ChatLine(LineKind.Chat, $"{prefix}{sender} {Safe(chat.Text)}")
        {
            Sender = prefix.Length..(prefix.Length + sender.Length),
            Nickname = Safe(chat.Nickname),
            Mentions = Mentions(chat.Nickname, chat.Text, context.Self),
            Time = chat.Time,
            IsHistory = chat.History == true,
        };
    }

    private static ChatLine Direct(DirectDeliveryMessage direct, RenderContext context)
    {
        var sent = string.Equals(direct.From, context.Self, StringComparison.OrdinalIgnoreCase)
            && !string.Equals(direct.To, context.Self, StringComparison.OrdinalIgnoreCase);
        var prefix = sent ? "-> " : "";
        var nickname = Safe(sent ? direct.To : direct.From);
        var sender = $"*{nickname}*";
        return new ChatLine(LineKind.Direct, $"{prefix}{sender} {Safe(direct.Text)}")
        {
            Sender = prefix.Length..(prefix.Length + sender.Length),
            Nickname = nickname,
            Mentions = !sent && !string.Equals(direct.From, context.Self, StringComparison.OrdinalIgnoreCase),
            Time = direct.Time,
        };
    }

    /// <summary>True when <paramref name="text"/> names <paramref name="self"/> as a whole word and somebody else said it.</summary>
    public static bool Mentions(string sender, string text, string self)
    {
        if (self.Length == 0 || string.Equals(sender, self, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        for (var at = text.IndexOf(self, StringComparison.OrdinalIgnoreCase); at >= 0; at = text.IndexOf(self, at + 1, StringComparison.OrdinalIgnoreCase))
        {
            var end = at + self.Length;
            if ((at == 0 || !IsWordChar(text[at - 1])) && (end == text.Length || !IsWordChar(text[end])))
            {
                return true;
            }
        }

        return false;
    }

    private static bool IsWordChar(char c) => char.IsLetterOrDigit(c) || c is '_' or '-';

    private static string Tag(string? room, RenderContext context) => room is null || SameRoom(room, context.CurrentRoom) ? "" : $"[{Safe(room)}] ";

    private static string List(IEnumerable<string> nicknames) => string.Join(", ", nicknames.Select(Safe));

    private static string Safe(string text) => TextSanitizer.Sanitize(text);
}
