namespace LocalChatMesh.Cli.Terminal;

/// <summary>What Tab can complete to, as the session knows it at the moment.</summary>
/// <param name="Nicknames">The people in the current room (you excluded).</param>
/// <param name="Rooms">The rooms you are in or have seen listed.</param>
internal sealed record CompletionSources(IReadOnlyList<string> Nicknames, IReadOnlyList<string> Rooms);

/// <summary>
/// Tab completion in the irssi style: the word before the cursor is completed to the first match
/// (case-insensitive prefix, in alphabetical order), and each further Tab cycles to the next.
/// A command name at the start of the line completes from the commands; the argument of
/// <c>/join</c>, <c>/leave</c>, <c>/switch</c> and <c>/who</c> from the rooms; everything else (and
/// <c>/msg</c>'s first argument) from the nicknames. A nickname at the start of a line gets
/// <c>": "</c> after it, elsewhere a space.
/// </summary>
internal sealed class Completer
{
    private static readonly HashSet<string> RoomCommands = new(["/join", "/leave", "/switch", "/who"], StringComparer.OrdinalIgnoreCase);

    private Cycle? _cycle;

    /// <summary>The line and cursor after Tab, or null when nothing matches.</summary>
    public (string Text, int Cursor)? Complete(string text, int cursor, CompletionSources sources)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(sources);
        cursor = Math.Clamp(cursor, 0, text.Length);

        if (_cycle is { } cycle && cycle.ResultText == text && cycle.ResultCursor == cursor)
        {
            return Apply(cycle with { Index = (cycle.Index + 1) % cycle.Matches.Count });
        }

        var start = cursor;
        while (start > 0 && !char.IsWhiteSpace(text[start - 1]))
        {
            start--;
        }

        var prefix = text[start..cursor];
        var (candidates, suffix) = Candidates(text[..start], prefix, sources);
        var matches = candidates
            .Where(c => c.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
            .Distinct(StringComparer.OrdinalIgnoreCase)
            .Order(StringComparer.OrdinalIgnoreCase)
            .ToList();
        if (matches.Count == 0)
        {
            _cycle = null;
            return null;
        }

        return Apply(new Cycle(text[..start], text[cursor..], matches, suffix, 0, "", 0));
    }

    private (string Text, int Cursor) Apply(Cycle cycle)
    {
        var completed = cycle.Matches[cycle.Index] + cycle.Suffix;
        var after = cycle.After;
        if (cycle.Suffix.EndsWith(' ') && after.StartsWith(' '))
        {
            after = after[1..];
        }

        var text = cycle.Before + completed + after;
        var cursor = cycle.Before.Length + completed.Length;
        _cycle = cycle with { ResultText = text, ResultCursor = cursor };
        return (text, cursor);
    }

    private static (IEnumerable<string> Candidates, string Suffix) Candidates(string before, string prefix, CompletionSources sources)
    {
        var words = before.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (words.Length == 0)
        {
            return prefix.StartsWith('/') ? (CommandParser.Names, " ") : (sources.Nicknames, ": ");
        }

        if (words.Length == 1 && RoomCommands.Contains(words[0]))
        {
            return (sources.Rooms, " ");
        }

        return (sources.Nicknames, " ");
    }

    private sealed record Cycle(string Before, string After, IReadOnlyList<string> Matches, string Suffix, int Index, string ResultText, int ResultCursor);
}
