using System.Buffers;
using System.Buffers.Text;
using System.Text;

namespace LocalChatMesh.Cli.Bench;

/// <summary>
/// The chat text the bench sends: <c>SSSSS.QQQQQQQQQ.TTTTTTTTTTTTTTTTTTT</c> (sender, sequence
/// number, Stopwatch timestamp, fixed width) padded with <c>x</c> to the asked size. A sender
/// encodes its <c>chat</c> line once and patches the digits in place for each message; a
/// receiver finds <c>"text":"</c> and reads the digits at fixed offsets, without parsing JSON.
/// </summary>
internal static class BenchPayload
{
    public const int HeaderLength = SenderDigits + 1 + SequenceDigits + 1 + TimestampDigits;

    /// <summary>The sender number the soak's short-lived clients put in their chats, so receivers can tell them apart.</summary>
    public const int ChurnSender = 99_999;

    private const int SenderDigits = 5;
    private const int SequenceDigits = 9;
    private const int TimestampDigits = 19;
    private const int SequenceOffset = SenderDigits + 1;
    private const int TimestampOffset = SequenceOffset + SequenceDigits + 1;

    private static readonly byte[] Prefix = "{\"type\":\"chat\",\"text\":\""u8.ToArray();
    private static readonly StandardFormat SenderFormat = new('D', SenderDigits);
    private static readonly StandardFormat SequenceFormat = new('D', SequenceDigits);
    private static readonly StandardFormat TimestampFormat = new('D', TimestampDigits);

    /// <summary>The marker a receiver searches for in a server's <c>chat</c> line.</summary>
    public static ReadOnlySpan<byte> TextMarker => "\"text\":\""u8;

    /// <summary>A complete client <c>chat</c> line for <paramref name="sender"/>, with the text at <see cref="TextOffset"/>.</summary>
    public static byte[] CreateLine(int sender, int size)
    {
        var line = new byte[Prefix.Length + size + 3];
        Prefix.CopyTo(line, 0);
        var text = line.AsSpan(Prefix.Length, size);
        text.Fill((byte)'x');
        Utf8Formatter.TryFormat(sender, text, out _, SenderFormat);
        text[SenderDigits] = (byte)'.';
        text[SequenceOffset + SequenceDigits] = (byte)'.';
        "\"}\n"u8.CopyTo(line.AsSpan(Prefix.Length + size));
        return line;
    }

    public static int TextOffset => Prefix.Length;

    /// <summary>Writes the sequence number and timestamp into a line made by <see cref="CreateLine"/>.</summary>
    public static void Stamp(Span<byte> line, int sequence, long timestamp)
    {
        var text = line[TextOffset..];
        Utf8Formatter.TryFormat(sequence, text.Slice(SequenceOffset, SequenceDigits), out _, SequenceFormat);
        Utf8Formatter.TryFormat(timestamp, text.Slice(TimestampOffset, TimestampDigits), out _, TimestampFormat);
    }

    /// <summary>Reads sender, sequence number and timestamp from the start of a chat text.</summary>
    public static bool TryRead(ReadOnlySpan<byte> text, out int sender, out int sequence, out long timestamp)
    {
        sender = sequence = 0;
        timestamp = 0;
        return text.Length >= HeaderLength
            && Utf8Parser.TryParse(text[..SenderDigits], out sender, out var a) && a == SenderDigits
            && Utf8Parser.TryParse(text.Slice(SequenceOffset, SequenceDigits), out sequence, out var b) && b == SequenceDigits
            && Utf8Parser.TryParse(text.Slice(TimestampOffset, TimestampDigits), out timestamp, out var c) && c == TimestampDigits;
    }

    /// <summary>For tests and messages: the text of a line made by <see cref="CreateLine"/>.</summary>
    public static string TextOf(byte[] line) => Encoding.UTF8.GetString(line, TextOffset, line.Length - TextOffset - 3);
}
