using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using LocalChatMesh.Protocol;

namespace LocalChatMesh;

/// <summary>
/// Reads server messages one at a time off a stream. Unlike <see cref="LineFramer.ReadLinesAsync"/>
/// it consumes only the line it returns, so the handshake can stop after <c>welcome</c> and leave
/// the <c>roster</c> behind it in the pipe for the reader loop. It never holds more than the line
/// limit plus one read: an endless line is refused as soon as it passes the limit.
/// </summary>
internal sealed class ServerMessageReader(Stream stream, int maxLineLength)
{
    private readonly PipeReader _pipe = PipeReader.Create(
        stream,
        new StreamPipeReaderOptions(leaveOpen: true, useZeroByteReads: true));

    /// <summary>The next message, or null when the broker closed its side.</summary>
    /// <exception cref="ServerProtocolException">The peer sent a line that breaks the protocol.</exception>
    public async ValueTask<ServerMessage?> ReadAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            var result = await _pipe.ReadAsync(cancellationToken).ConfigureAwait(false);
            var buffer = result.Buffer;
            FrameStatus status;
            while ((status = LineFramer.TryReadLine(ref buffer, maxLineLength, out var line)) == FrameStatus.Line)
            {
                if (LineFramer.IsBlank(line))
                {
                    continue;
                }

                // Decode before advancing: the line points into the pipe's memory.
                var bytes = line.IsSingleSegment ? line.FirstSpan : line.ToArray();
                var decoded = MessageDecoder.TryDecodeServerMessage(bytes, out var message, out var error);
                var violation = decoded ? null : ServerProtocolException.Invalid(error!, bytes);
                _pipe.AdvanceTo(buffer.Start);
                return violation is null ? message : throw violation;
            }

            _pipe.AdvanceTo(buffer.Start, buffer.End);
            if (status == FrameStatus.TooLong)
            {
                throw ServerProtocolException.TooLong(maxLineLength);
            }

            if (result.IsCompleted)
            {
                // A partial line at the end of the stream is dropped, as the framer does everywhere.
                return null;
            }
        }
    }

    /// <summary>Releases the pipe's buffers; call once nothing reads any more.</summary>
    public void Complete() => _pipe.Complete();
}

/// <summary>
/// The peer sent a line that breaks the protocol. The two descriptions are one printable line each:
/// <see cref="Exception.Message"/> for a broker that welcomed us, <see cref="HandshakeReason"/> for a
/// peer that may not be a broker at all (an HTTP server, a random service).
/// </summary>
internal sealed class ServerProtocolException : Exception
{
    private const int SnippetBytes = 48;

    private ServerProtocolException(string message, string handshakeReason)
        : base(message)
    {
        HandshakeReason = handshakeReason;
    }

    /// <summary>Why the connect failed, after <c>could not connect to ADDRESS: </c>.</summary>
    public string HandshakeReason { get; }

    public static ServerProtocolException TooLong(int maxLineLength) => new(
        $"the broker sent a line longer than {maxLineLength} bytes",
        $"the server sent a line longer than {maxLineLength} bytes");

    public static ServerProtocolException Invalid(string error, ReadOnlySpan<byte> line)
    {
        var problem = Printable.Escape(error);

        // Not JSON at all says little in the decoder's words; the bytes themselves say what the peer is.
        var notJson = error.StartsWith("invalid JSON", StringComparison.Ordinal)
            || error.StartsWith("invalid UTF-8", StringComparison.Ordinal)
            || error.StartsWith("invalid message", StringComparison.Ordinal);
        var detail = notJson ? Snippet(line) : problem;
        return new($"the broker sent an invalid line: {problem}", $"the server sent something that is not the chat protocol ({detail})");
    }

    // The start of the line, quoted, printable ASCII as is and every other byte as \xNN.
    private static string Snippet(ReadOnlySpan<byte> line)
    {
        var builder = new StringBuilder("\"");
        foreach (var b in line[..Math.Min(line.Length, SnippetBytes)])
        {
            if (b is >= 0x20 and < 0x7F)
            {
                builder.Append((char)b);
            }
            else
            {
                builder.Append(System.Globalization.CultureInfo.InvariantCulture, $"\\x{b:x2}");
            }
        }

        builder.Append('"');
        if (line.Length > SnippetBytes)
        {
            builder.Append('…');
        }

        return builder.ToString();
    }
}

/// <summary>Makes text from the network safe to put in one line of an exception message or log.</summary>
internal static class Printable
{
    /// <summary>Control, format and separator characters and lone surrogates become visible escapes.</summary>
    public static string Escape(string text)
    {
        if (!text.Any(NeedsEscape))
        {
            return text;
        }

        var builder = new StringBuilder(text.Length + 8);
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                builder.Append(c).Append(text[++i]);
            }
            else if (NeedsEscape(c) && c <= 0xFF)
            {
                builder.Append(System.Globalization.CultureInfo.InvariantCulture, $"\\x{(int)c:x2}");
            }
            else if (NeedsEscape(c))
            {
                builder.Append(System.Globalization.CultureInfo.InvariantCulture, $"\\u{(int)c:x4}");
            }
            else
            {
                builder.Append(c);
            }
        }

        return builder.ToString();
    }

    private static bool NeedsEscape(char c) =>
        char.IsControl(c)
        || char.IsSurrogate(c)
        || char.GetUnicodeCategory(c) is System.Globalization.UnicodeCategory.Format
            or System.Globalization.UnicodeCategory.LineSeparator
            or System.Globalization.UnicodeCategory.ParagraphSeparator;
}
