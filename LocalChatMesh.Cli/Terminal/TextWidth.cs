using System.Globalization;
using System.Text;

namespace LocalChatMesh.Cli.Terminal;

/// <summary>
/// How many terminal columns text takes, and how a line wraps into rows: East Asian wide
/// characters and emoji take two columns, combining marks none, everything else one.
/// An approximation of wcwidth that is right for the scripts and emoji people type in chat.
/// </summary>
internal static class TextWidth
{
    /// <summary>The columns of one text element (a user-perceived character); at least 1.</summary>
    public static int Columns(ReadOnlySpan<char> element)
    {
        if (Rune.DecodeFromUtf16(element, out var rune, out _) != System.Buffers.OperationStatus.Done)
        {
            return 1;
        }

        return IsWide(rune.Value) ? 2 : 1;
    }

    /// <summary>The columns of a whole string.</summary>
    public static int Columns(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var columns = 0;
        var position = 0;
        while (position < text.Length)
        {
            var length = StringInfo.GetNextTextElementLength(text, position);
            columns += Columns(text.AsSpan(position, length));
            position += length;
        }

        return columns;
    }

    /// <summary>
    /// Splits <paramref name="text"/> into rows of at most <paramref name="width"/> columns, at
    /// spaces where it can and inside a word only when the word is wider than a row.
    /// </summary>
    public static IReadOnlyList<string> Wrap(string text, int width)
    {
        ArgumentNullException.ThrowIfNull(text);
        width = Math.Max(2, width);
        var rows = new List<string>();
        var row = new StringBuilder();
        var rowColumns = 0;
        var lastSpace = -1;
        var position = 0;
        while (position < text.Length)
        {
            var length = StringInfo.GetNextTextElementLength(text, position);
            var columns = Columns(text.AsSpan(position, length));
            if (rowColumns + columns > width && text[position] == ' ')
            {
                // A space that does not fit ends the row and is dropped.
                rows.Add(row.ToString());
                row.Clear();
                rowColumns = 0;
                lastSpace = -1;
                position += length;
                continue;
            }

            if (rowColumns + columns > width)
            {
                if (lastSpace > 0)
                {
                    // Break after the last space: the rest of the row moves down.
                    var carried = row.ToString(lastSpace + 1, row.Length - lastSpace - 1);
                    rows.Add(row.ToString(0, lastSpace + 1).TrimEnd());
                    row.Clear().Append(carried);
                    rowColumns = Columns(carried);
                }
                else
                {
                    rows.Add(row.ToString());
                    row.Clear();
                    rowColumns = 0;
                }

                lastSpace = -1;
            }

            if (text[position] == ' ')
            {
                lastSpace = row.Length;
            }

            row.Append(text, position, length);
            rowColumns += columns;
            position += length;
        }

        if (row.Length > 0 || rows.Count == 0)
        {
            rows.Add(row.ToString());
        }

        return rows;
    }

    private static bool IsWide(int c) => c switch
    {
        >= 0x1100 and <= 0x115F => true,
        >= 0x2E80 and <= 0x303E => true,
        >= 0x3041 and <= 0x33FF => true,
        >= 0x3400 and <= 0x4DBF => true,
        >= 0x4E00 and <= 0x9FFF => true,
        >= 0xA000 and <= 0xA4CF => true,
        >= 0xAC00 and <= 0xD7A3 => true,
        >= 0xF900 and <= 0xFAFF => true,
        >= 0xFE30 and <= 0xFE4F => true,
        >= 0xFF00 and <= 0xFF60 => true,
        >= 0xFFE0 and <= 0xFFE6 => true,
        >= 0x1F300 and <= 0x1F64F => true,
        >= 0x1F900 and <= 0x1F9FF => true,
        >= 0x20000 and <= 0x3FFFD => true,
        _ => false,
    };
}
