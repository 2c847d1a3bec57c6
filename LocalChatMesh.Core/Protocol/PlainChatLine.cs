using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.Text;
using System.Text.Unicode;

namespace LocalChatMesh.Protocol;

/// <summary>
/// The chat line client libraries write: <c>{"type":"chat","text":"…"}</c>, or the same with
/// <c>,"room":"…"</c> after the text, byte for byte so, with nothing escaped in either string.
/// A line of that shape is valid JSON by its shape alone, so the decoder reads it without the JSON
/// reader (most of a chat's own cost in small rooms, BENCHMARKS.md "Per chat and per delivery").
/// Any other line, chats included, takes <see cref="MessageDecoder"/>'s general path, which reads
/// this shape to the same message.
/// </summary>
internal static class PlainChatLine
{
    // A string with none of these up to its closing quote needs no unescaping and is valid JSON
    // (given valid UTF-8): the JSON reader refuses control characters, and a backslash starts an escape.
    private static readonly SearchValues<byte> QuoteEscapeOrControl =
        SearchValues.Create([.. Enumerable.Range(0, 0x20).Select(b => (byte)b), (byte)'"', (byte)'\\']);

    private static ReadOnlySpan<byte> Start => "{\"type\":\"chat\",\"text\":\""u8;

    // Both begin with the text's closing quote.
    private static ReadOnlySpan<byte> RoomField => "\",\"room\":\""u8;

    private static ReadOnlySpan<byte> End => "\"}"u8;

    /// <summary>The chat <paramref name="line"/> says, when it has exactly this shape; false sends it down the general path.</summary>
    public static bool TryRead(ReadOnlySpan<byte> line, [NotNullWhen(true)] out ChatMessage? message)
    {
        message = null;
        if (!line.StartsWith(Start) || !TryString(line[Start.Length..], out var text, out var rest))
        {
            return false;
        }

        string? room = null;
        if (rest.StartsWith(RoomField))
        {
            if (!TryString(rest[RoomField.Length..], out var roomBytes, out rest) || !rest.SequenceEqual(End) || !Utf8.IsValid(roomBytes))
            {
                return false;
            }

            room = Encoding.UTF8.GetString(roomBytes);
        }
        else if (!rest.SequenceEqual(End))
        {
            return false;
        }

        if (!Utf8.IsValid(text))
        {
            return false;
        }

        message = new ChatMessage(string.Empty) { Utf8Text = text.ToArray(), Room = room };
        return true;
    }

    // A string's content up to its closing quote, which starts rest; false at an escape, a control character or no quote.
    private static bool TryString(ReadOnlySpan<byte> from, out ReadOnlySpan<byte> content, out ReadOnlySpan<byte> rest)
    {
        var length = from.IndexOfAny(QuoteEscapeOrControl);
        var closed = length >= 0 && from[length] == (byte)'"';
        content = closed ? from[..length] : default;
        rest = closed ? from[length..] : default;
        return closed;
    }
}
