using System.Globalization;
using System.Text;

namespace LocalChatMesh.Cli.Terminal;

/// <summary>
/// The line being typed and the cursor in it, with the usual editing moves (readline/Emacs keys).
/// The cursor moves over whole text elements, so an emoji or a letter with a combining accent is
/// one step. No terminal involved: the screen layer maps keys to these calls and draws
/// <see cref="View"/>.
/// </summary>
internal sealed class LineEditor
{
    private string _text = "";

    /// <summary>The whole line.</summary>
    public string Text => _text;

    /// <summary>The cursor, as a UTF-16 index into <see cref="Text"/> (always on a text element boundary).</summary>
    public int Cursor { get; private set; }

    /// <summary>Replaces the line and puts the cursor at its end.</summary>
    public void SetText(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        _text = text;
        Cursor = text.Length;
    }

    /// <summary>Replaces the line and sets the cursor (clamped to the line).</summary>
    public void SetText(string text, int cursor)
    {
        SetText(text);
        Cursor = Math.Clamp(cursor, 0, text.Length);
    }

    /// <summary>Empties the line and returns what it held (what Enter submits).</summary>
    public string Take()
    {
        var text = _text;
        SetText("");
        return text;
    }

    /// <summary>Types <paramref name="text"/> at the cursor. Line breaks and other controls are dropped.</summary>
    public void Insert(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var clean = new StringBuilder(text.Length);
        foreach (var c in text)
        {
            if (!char.IsControl(c))
            {
                clean.Append(c);
            }
        }

        _text = _text.Insert(Cursor, clean.ToString());
        Cursor += clean.Length;
    }

    public void Left() => Cursor = PreviousBoundary(Cursor);

    public void Right() => Cursor = NextBoundary(Cursor);

    public void Home() => Cursor = 0;

    public void End() => Cursor = _text.Length;

    /// <summary>Deletes the text element before the cursor.</summary>
    public void Backspace() => Remove(PreviousBoundary(Cursor), Cursor);

    /// <summary>Deletes the text element under the cursor.</summary>
    public void Delete() => Remove(Cursor, NextBoundary(Cursor));

    /// <summary>Ctrl+W: deletes the word before the cursor and the spaces after it.</summary>
    public void DeleteWordBefore() => Remove(WordStartBefore(Cursor), Cursor);

    /// <summary>Ctrl+U: deletes everything before the cursor.</summary>
    public void DeleteToStart() => Remove(0, Cursor);

    /// <summary>Ctrl+K: deletes everything from the cursor on.</summary>
    public void DeleteToEnd() => Remove(Cursor, _text.Length);

    /// <summary>Ctrl+Left: to the start of the word before the cursor.</summary>
    public void WordLeft() => Cursor = WordStartBefore(Cursor);

    /// <summary>Ctrl+Right: to the end of the word after the cursor.</summary>
    public void WordRight()
    {
        var position = Cursor;
        while (position < _text.Length && char.IsWhiteSpace(_text[position]))
        {
            position++;
        }

        while (position < _text.Length && !char.IsWhiteSpace(_text[position]))
        {
            position = NextBoundary(position);
        }

        Cursor = position;
    }

    /// <summary>
    /// What to draw in <paramref name="width"/> columns: a slice of the line that holds the cursor,
    /// and the cursor's column in it. Short lines show whole; a long one scrolls so the cursor
    /// stays visible.
    /// </summary>
    public (string Text, int CursorColumn) View(int width)
    {
        width = Math.Max(1, width);
        var elements = Elements();
        var cursorElement = elements.FindIndex(e => e.Start >= Cursor);
        if (cursorElement < 0)
        {
            cursorElement = elements.Count;
        }

        // Start as far left as possible with the cursor (and one cell for it) still inside.
        var start = cursorElement;
        var columns = 1;
        while (start > 0 && columns + elements[start - 1].Columns <= width)
        {
            start--;
            columns += elements[start].Columns;
        }

        var builder = new StringBuilder();
        var used = 0;
        var cursorColumn = 0;
        for (var i = start; i < elements.Count; i++)
        {
            if (i == cursorElement)
            {
                cursorColumn = used;
            }

            if (used + elements[i].Columns > width)
            {
                break;
            }

            builder.Append(_text, elements[i].Start, elements[i].Length);
            used += elements[i].Columns;
        }

        if (cursorElement == elements.Count)
        {
            cursorColumn = used;
        }

        return (builder.ToString(), cursorColumn);
    }

    private List<(int Start, int Length, int Columns)> Elements()
    {
        var elements = new List<(int, int, int)>();
        var position = 0;
        while (position < _text.Length)
        {
            var length = StringInfo.GetNextTextElementLength(_text, position);
            elements.Add((position, length, TextWidth.Columns(_text.AsSpan(position, length))));
            position += length;
        }

        return elements;
    }

    private void Remove(int from, int to)
    {
        if (to <= from)
        {
            return;
        }

        _text = _text.Remove(from, to - from);
        Cursor = from;
    }

    private int NextBoundary(int position) =>
        position >= _text.Length ? _text.Length : position + StringInfo.GetNextTextElementLength(_text, position);

    private int PreviousBoundary(int position)
    {
        var previous = 0;
        var current = 0;
        while (current < position)
        {
            previous = current;
            current = NextBoundary(current);
        }

        return previous;
    }

    private int WordStartBefore(int position)
    {
        while (position > 0 && char.IsWhiteSpace(_text[position - 1]))
        {
            position--;
        }

        while (position > 0 && !char.IsWhiteSpace(_text[position - 1]))
        {
            position = PreviousBoundary(position);
        }

        return position;
    }
}
