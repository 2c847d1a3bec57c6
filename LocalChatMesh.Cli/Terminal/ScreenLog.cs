using System.Globalization;

namespace LocalChatMesh.Cli.Terminal;

/// <summary>One line of the interactive log with the time it is shown at.</summary>
/// <param name="Line">The line.</param>
/// <param name="Time">The broker's time for a chat when it gave one, else when the line arrived (local time).</param>
internal sealed record LogEntry(ChatLine Line, DateTimeOffset Time)
{
    /// <summary>The timestamp column: <c>HH:mm </c> in local time.</summary>
    public string Stamp => Time.ToLocalTime().ToString("HH:mm ", CultureInfo.InvariantCulture);
}

/// <summary>One screen row of the log: which entry, and the text on that row.</summary>
internal sealed record LogRow(LogEntry Entry, string Text, bool IsFirst);

/// <summary>
/// The interactive client's scrollback: the newest <see cref="Capacity"/> lines, wrapped to the
/// screen width (continuation rows indented under the text), and a scroll offset for PageUp and
/// PageDown. Pure: the screen asks for the rows that fit and draws them.
/// </summary>
internal sealed class ScreenLog(int capacity = ScreenLog.DefaultCapacity)
{
    public const int DefaultCapacity = 2000;

    private readonly LinkedList<LogEntry> _entries = new();

    public int Capacity { get; } = capacity;

    public int Count => _entries.Count;

    /// <summary>How many rows above the bottom the view is scrolled (0: following new lines).</summary>
    public int ScrollOffset { get; private set; }

    public void Add(ChatLine line, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(line);
        _entries.AddLast(new LogEntry(line, line.Time ?? now));
        if (_entries.Count > Capacity)
        {
            _entries.RemoveFirst();
        }
    }

    public void ScrollUp(int rows) => ScrollOffset += Math.Max(0, rows);

    public void ScrollDown(int rows) => ScrollOffset = Math.Max(0, ScrollOffset - Math.Max(0, rows));

    /// <summary>The rows to show in a <paramref name="width"/> x <paramref name="height"/> area, top to bottom.</summary>
    public IReadOnlyList<LogRow> Rows(int width, int height)
    {
        if (height <= 0 || width <= 0)
        {
            return [];
        }

        // Wrap from the newest entry backwards until the screen (and the scroll offset) is covered.
        var needed = height + ScrollOffset;
        var rows = new List<LogRow>();
        for (var node = _entries.Last; node is not null && rows.Count < needed; node = node.Previous)
        {
            var entry = node.Value;
            var indent = entry.Stamp.Length;
            var wrapped = TextWidth.Wrap(entry.Line.Text, Math.Max(2, width - indent));
            var entryRows = wrapped.Select((text, i) => new LogRow(entry, i == 0 ? entry.Stamp + text : new string(' ', indent) + text, i == 0));
            rows.InsertRange(0, entryRows);
        }

        // Never scroll past the oldest line.
        ScrollOffset = Math.Min(ScrollOffset, Math.Max(0, rows.Count - height));
        var end = rows.Count - ScrollOffset;
        var start = Math.Max(0, end - height);
        return rows.GetRange(start, end - start);
    }
}
