using System.Text;

namespace LocalChatMesh.Protocol;

/// <summary>Checks on text kept as UTF-8, so that the broker need not make a string to ask them.</summary>
internal static class Utf8Text
{
    /// <summary>
    /// Whether the text is empty or only whitespace, exactly as <see cref="string.IsNullOrWhiteSpace"/>
    /// says of the same text as a string (tested against it). The text must be valid UTF-8.
    /// </summary>
    public static bool IsBlank(ReadOnlySpan<byte> utf8)
    {
        while (!utf8.IsEmpty)
        {
            // ASCII first: a chat's first byte almost always settles it.
            var first = utf8[0];
            if (first < 0x80)
            {
                if (!char.IsWhiteSpace((char)first))
                {
                    return false;
                }

                utf8 = utf8[1..];
                continue;
            }

            Rune.DecodeFromUtf8(utf8, out var rune, out var consumed);
            if (!Rune.IsWhiteSpace(rune))
            {
                return false;
            }

            utf8 = utf8[consumed..];
        }

        return true;
    }
}
