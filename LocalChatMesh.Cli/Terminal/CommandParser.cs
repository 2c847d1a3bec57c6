namespace LocalChatMesh.Cli.Terminal;

/// <summary>What a typed line asks for (PROTOCOL.md, "Terminal client, version 2").</summary>
internal abstract record ChatCommand;

/// <summary>Nothing to do: a blank line.</summary>
internal sealed record NoCommand : ChatCommand;

/// <summary>A chat line for the current room, exactly as typed (or with one leading <c>/</c> taken off <c>//text</c>).</summary>
internal sealed record SayCommand(string Text) : ChatCommand;

internal sealed record JoinCommand(string Room) : ChatCommand;

/// <summary><c>/leave [ROOM]</c>: null means the current room.</summary>
internal sealed record LeaveCommand(string? Room) : ChatCommand;

internal sealed record SwitchCommand(string Room) : ChatCommand;

internal sealed record RoomsCommand : ChatCommand;

/// <summary><c>/who [ROOM]</c>: null means the current room.</summary>
internal sealed record WhoCommand(string? Room) : ChatCommand;

internal sealed record DirectCommand(string Nickname, string Text) : ChatCommand;

/// <summary><c>/history [N]</c>: the last <see cref="Count"/> chats of the current room, marked as history.</summary>
internal sealed record HistoryCommand(int Count) : ChatCommand
{
    /// <summary>What <c>/history</c> shows without a number (as many as <c>/join</c> shows).</summary>
    public const int DefaultCount = 20;

    /// <summary>The most <c>/history</c> shows: what the client keeps of each room.</summary>
    public const int MaxCount = 1000;
}

internal sealed record HelpCommand : ChatCommand;

internal sealed record QuitCommand : ChatCommand;

/// <summary>A line that is not sent: an unknown command or a command used wrongly; <see cref="Hint"/> says why.</summary>
internal sealed record RefusedCommand(string Hint) : ChatCommand;

/// <summary>Turns a typed line into a <see cref="ChatCommand"/>. Pure: no I/O, no state.</summary>
internal static class CommandParser
{
    /// <summary>The commands, as Tab completes them.</summary>
    public static IReadOnlyList<string> Names { get; } = ["/help", "/history", "/join", "/leave", "/msg", "/quit", "/rooms", "/switch", "/who"];

    /// <summary>What <c>/help</c> prints, one line each.</summary>
    public static IReadOnlyList<string> Help { get; } =
    [
        "*** /join ROOM      enter a room (and make it current)",
        "*** /leave [ROOM]   leave a room (the current one by default)",
        "*** /switch ROOM    send plain lines to another room you are in",
        "*** /rooms          list the rooms",
        "*** /who [ROOM]     who is in a room",
        "*** /msg NICK TEXT  a direct message",
        "*** /history [N]    the last N chats of the current room (20; at most 1000)",
        "*** /quit           leave the chat (also Ctrl+D, Ctrl+C)",
        "*** //text          send a line that starts with /",
        "*** /help           this list; Tab completes commands, rooms and nicknames",
    ];

    public static ChatCommand Parse(string line)
    {
        ArgumentNullException.ThrowIfNull(line);
        var trimmed = line.Trim();
        if (trimmed.Length == 0)
        {
            return new NoCommand();
        }

        if (!trimmed.StartsWith('/'))
        {
            return new SayCommand(line);
        }

        if (trimmed.StartsWith("//", StringComparison.Ordinal))
        {
            return new SayCommand(line.TrimStart()[1..]);
        }

        var (name, rest) = SplitWord(trimmed[1..]);
        var arguments = rest.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return name.ToUpperInvariant() switch
        {
            "QUIT" => arguments.Length == 0 ? new QuitCommand() : Usage("/quit"),
            "HELP" => new HelpCommand(),
            "ROOMS" => arguments.Length == 0 ? new RoomsCommand() : Usage("/rooms"),
            "JOIN" => arguments.Length == 1 ? Room(arguments[0], room => new JoinCommand(room)) : Usage("/join ROOM"),
            "SWITCH" => arguments.Length == 1 ? Room(arguments[0], room => new SwitchCommand(room)) : Usage("/switch ROOM"),
            "LEAVE" => arguments.Length switch
            {
                0 => new LeaveCommand(null),
                1 => Room(arguments[0], room => new LeaveCommand(room)),
                _ => Usage("/leave [ROOM]"),
            },
            "WHO" => arguments.Length switch
            {
                0 => new WhoCommand(null),
                1 => Room(arguments[0], room => new WhoCommand(room)),
                _ => Usage("/who [ROOM]"),
            },
            "MSG" => Direct(rest),
            "HISTORY" => arguments.Length switch
            {
                0 => new HistoryCommand(HistoryCommand.DefaultCount),
                1 => History(arguments[0]),
                _ => Usage(HistoryUsage),
            },
            _ => new RefusedCommand($"unknown command /{name}: /help lists the commands, //{name} sends it as text"),
        };
    }

    /// <summary>Room names: 1-32 ASCII letters, digits, <c>-</c>, <c>_</c>, <c>.</c> (PROTOCOL.md).</summary>
    public static bool IsValidRoomName(string room) =>
        room.Length is >= 1 and <= 32 && room.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.');

    private const string HistoryUsage = "/history [N] (N from 1 to 1000)";

    private static ChatCommand History(string count) =>
        int.TryParse(count, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n) && n is >= 1 and <= HistoryCommand.MaxCount
            ? new HistoryCommand(n)
            : Usage(HistoryUsage);

    private static ChatCommand Direct(string rest)
    {
        var (nickname, text) = SplitWord(rest);
        return nickname.Length == 0 || string.IsNullOrWhiteSpace(text) ? Usage("/msg NICK TEXT") : new DirectCommand(nickname, text);
    }

    private static ChatCommand Room(string room, Func<string, ChatCommand> command) =>
        IsValidRoomName(room) ? command(room) : new RefusedCommand($"invalid room name '{room}': 1-32 letters, digits, '-', '_' or '.'");

    private static RefusedCommand Usage(string usage) => new($"usage: {usage}");

    // The first word and everything after the whitespace that follows it (kept as typed).
    private static (string Word, string Remainder) SplitWord(string text)
    {
        text = text.TrimStart();
        var end = 0;
        while (end < text.Length && !char.IsWhiteSpace(text[end]))
        {
            end++;
        }

        var rest = end < text.Length ? text[(end + 1)..] : "";
        return (text[..end], rest);
    }
}
