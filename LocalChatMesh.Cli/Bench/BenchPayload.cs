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
    private static readonly byte[] DirectPrefix = "{\"type\":\"direct\",\"text\":\""u8.ToArray();
    private static readonly StandardFormat SenderFormat = new('D', SenderDigits);
    private static readonly StandardFormat SequenceFormat = new('D', SequenceDigits);
    private static readonly StandardFormat TimestampFormat = new('D', TimestampDigits);

    /// <summary>The marker a receiver searches for in a server's <c>chat</c> line.</summary>
    public static ReadOnlySpan<byte> TextMarker => "\"text\":\""u8;

    /// <summary>
    /// A complete client <c>chat</c> line for <paramref name="sender"/>; with a
    /// <paramref name="room"/>, a v2 chat for that room (the field follows the text, so the line
    /// starts as a v1 one does).
    /// </summary>
    public static byte[] CreateLine(int sender, int size, string? room = null) =>
        Create(Prefix, sender, size, room is null ? "\"}\n"u8 : Encoding.UTF8.GetBytes($"\",\"room\":\"{room}\"}}\n"));

    /// <summary>A complete v2 <c>direct</c> line from <paramref name="sender"/> to <paramref name="to"/>.</summary>
    public static byte[] CreateDirectLine(int sender, int size, string to) =>
        Create(DirectPrefix, sender, size, Encoding.UTF8.GetBytes($"\",\"to\":\"{to}\"}}\n"));

    /// <summary>Where the text starts in a line made here.</summary>
    public static int TextOffsetOf(ReadOnlySpan<byte> line) => line.IndexOf(TextMarker) + TextMarker.Length;

    /// <summary>Writes the sequence number and timestamp into a line made here.</summary>
    public static void Stamp(Span<byte> line, int sequence, long timestamp) => Stamp(line, TextOffsetOf(line), sequence, timestamp);

    /// <summary>As <see cref="Stamp(Span{byte}, int, long)"/>, with the text's offset known.</summary>
    public static void Stamp(Span<byte> line, int textOffset, int sequence, long timestamp)
    {
        var text = line[textOffset..];
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

    /// <summary>For tests and messages: the text of a line made here.</summary>
    public static string TextOf(byte[] line)
    {
        var offset = TextOffsetOf(line);
        return Encoding.UTF8.GetString(line, offset, line.AsSpan(offset).IndexOf((byte)'"'));
    }

    private static byte[] Create(byte[] prefix, int sender, int size, ReadOnlySpan<byte> suffix)
    {
        var line = new byte[prefix.Length + size + suffix.Length];
        prefix.CopyTo(line, 0);
        var text = line.AsSpan(prefix.Length, size);
        text.Fill((byte)'x');
        Utf8Formatter.TryFormat(sender, text, out _, SenderFormat);
        text[SenderDigits] = (byte)'.';
        text[SequenceOffset + SequenceDigits] = (byte)'.';
        suffix.CopyTo(line.AsSpan(prefix.Length + size));
        return line;
    }
}
