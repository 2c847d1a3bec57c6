using System.Buffers;
using System.Globalization;
using System.Text;

namespace LocalChatMesh.Cli.Terminal;

/// <summary>
/// Makes text from the network safe to print on a terminal. Every character that could steer the
/// terminal or reorder what is shown is replaced by a visible escape such as <c>\x1b</c> or
/// <c>\u202e</c>: C0 controls (ESC, BEL, CR, LF, TAB, BS…), DEL, C1 controls, Unicode format
/// characters (bidi overrides and isolates, marks, zero-width characters…), the line and paragraph
/// separators, and lone surrogates. Everything else, emoji and all scripts, passes unchanged.
/// </summary>
/// <remarks>
/// Without ESC, CSI (U+009B) and the other controls no escape sequence can start, so cursor
/// moves, colours, screen clears and title changes are impossible; without format characters
/// nobody can make text display in an order other than the order it was sent. The price: emoji
/// sequences joined with U+200D show their parts separately.
/// </remarks>
internal static class TextSanitizer
{
    /// <summary>The text with every unsafe character escaped; the same instance when nothing was.</summary>
    public static string Sanitize(string text) => Escape(text, json: false);

    /// <summary>
    /// A JSON line with every unsafe character written as a JSON <c>\uXXXX</c> escape. Such
    /// characters can only occur inside JSON strings, so the line still means exactly the same.
    /// </summary>
    public static string SanitizeJson(string json) => Escape(json, json: true);

    private static string Escape(string text, bool json)
    {
        ArgumentNullException.ThrowIfNull(text);
        var span = text.AsSpan();
        var safe = SafePrefixLength(span);
        if (safe == span.Length)
        {
            return text;
        }

        var builder = new StringBuilder(text.Length + 16).Append(span[..safe]);
        span = span[safe..];
        while (!span.IsEmpty)
        {
            if (Rune.DecodeFromUtf16(span, out var rune, out var consumed) != OperationStatus.Done)
            {
                // A lone surrogate: not text at all, and some terminals misbehave on it.
                builder.Append(CultureInfo.InvariantCulture, $"\\u{(int)span[0]:x4}");
                span = span[1..];
                continue;
            }

            if (!IsUnsafe(rune))
            {
                builder.Append(span[..consumed]);
            }
            else if (json)
            {
                foreach (var unit in span[..consumed])
                {
                    builder.Append(CultureInfo.InvariantCulture, $"\\u{(int)unit:x4}");
                }
            }
            else if (rune.Value < 0x80)
            {
                builder.Append(CultureInfo.InvariantCulture, $"\\x{rune.Value:x2}");
            }
            else if (rune.IsBmp)
            {
                builder.Append(CultureInfo.InvariantCulture, $"\\u{rune.Value:x4}");
            }
            else
            {
                builder.Append(CultureInfo.InvariantCulture, $"\\U{rune.Value:x8}");
            }

            span = span[consumed..];
        }

        return builder.ToString();
    }

    private static int SafePrefixLength(ReadOnlySpan<char> span)
    {
        var position = 0;
        while (position < span.Length)
        {
            if (Rune.DecodeFromUtf16(span[position..], out var rune, out var consumed) != OperationStatus.Done || IsUnsafe(rune))
            {
                break;
            }

            position += consumed;
        }

        return position;
    }

    private static bool IsUnsafe(Rune rune) => rune.Value switch
    {
        < 0x20 or (>= 0x7F and <= 0x9F) => true,
        0x2028 or 0x2029 => true,
        _ => Rune.GetUnicodeCategory(rune) == UnicodeCategory.Format,
    };
}
