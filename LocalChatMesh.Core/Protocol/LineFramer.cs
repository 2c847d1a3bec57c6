using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;

namespace LocalChatMesh.Protocol;

/// <summary>What <see cref="LineFramer.TryReadLine"/> found at the front of a buffer.</summary>
internal enum FrameStatus
{
    /// <summary>No complete line yet; read more.</summary>
    Incomplete,

    /// <summary>A complete line was taken off the buffer.</summary>
    Line,

    /// <summary>The line at the front is longer than the limit; stop reading this peer.</summary>
    TooLong,
}

/// <summary>
/// Splits a byte stream into <c>\n</c>-terminated lines, dropping a trailing <c>\r</c>, and
/// refuses a line over the limit as soon as the limit is passed rather than buffering it to its end.
/// </summary>
internal static class LineFramer
{
    /// <summary>The default maximum line length in bytes, terminator excluded: 8 KiB.</summary>
    public const int DefaultMaxLineLength = 8 * 1024;

    /// <summary>Tries to take one line off the front of <paramref name="buffer"/>.</summary>
    /// <param name="buffer">The unread bytes; on <see cref="FrameStatus.Line"/> it is advanced past the line.</param>
    /// <param name="maxLineLength">The longest line accepted, in bytes, without <c>\r\n</c>.</param>
    /// <param name="line">The line without its terminator, when one was found.</param>
    public static FrameStatus TryReadLine(ref ReadOnlySequence<byte> buffer, int maxLineLength, out ReadOnlySequence<byte> line)
    {
        // Look no further than a maximal line plus "\r\n": past that the line is too long anyway.
        var window = buffer.Length > maxLineLength + 2 ? buffer.Slice(0, maxLineLength + 2) : buffer;
        var newline = window.PositionOf((byte)'\n');
        if (newline is null)
        {
            line = default;
            return buffer.Length > maxLineLength + 1 ? FrameStatus.TooLong : FrameStatus.Incomplete;
        }

        line = buffer.Slice(0, newline.Value);
        buffer = buffer.Slice(buffer.GetPosition(1, newline.Value));
        if (line.Length > 0 && EndsWithCarriageReturn(line))
        {
            line = line.Slice(0, line.Length - 1);
        }

        return line.Length > maxLineLength ? FrameStatus.TooLong : FrameStatus.Line;
    }

    /// <summary>True when a line holds nothing but spaces and tabs; such lines are ignored.</summary>
    public static bool IsBlank(in ReadOnlySequence<byte> line)
    {
        foreach (var segment in line)
        {
            if (segment.Span.IndexOfAnyExcept((byte)' ', (byte)'\t') >= 0)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// Reads non-blank lines from <paramref name="reader"/> until it completes; a partial line at
    /// the end of the stream is dropped. Each line is copied, so it outlives the pipe's buffer.
    /// </summary>
    /// <exception cref="LineTooLongException">A line passed <paramref name="maxLineLength"/>.</exception>
    public static async IAsyncEnumerable<ReadOnlyMemory<byte>> ReadLinesAsync(
        PipeReader reader,
        int maxLineLength = DefaultMaxLineLength,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(reader);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxLineLength, 1);
        while (true)
        {
            var result = await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            var buffer = result.Buffer;
            var lines = new List<ReadOnlyMemory<byte>>();
            FrameStatus status;
            while ((status = TryReadLine(ref buffer, maxLineLength, out var line)) == FrameStatus.Line)
            {
                if (!IsBlank(line))
                {
                    lines.Add(line.ToArray());
                }
            }

            reader.AdvanceTo(buffer.Start, buffer.End);
            foreach (var line in lines)
            {
                yield return line;
            }

            if (status == FrameStatus.TooLong)
            {
                throw new LineTooLongException(maxLineLength);
            }

            if (result.IsCompleted || result.IsCanceled)
            {
                yield break;
            }
        }
    }

    private static bool EndsWithCarriageReturn(in ReadOnlySequence<byte> line)
    {
        var last = line.Slice(line.Length - 1);
        return last.FirstSpan[0] == (byte)'\r';
    }
}

/// <summary>A peer sent a line longer than the limit.</summary>
public sealed class LineTooLongException : ChatMeshException
{
    /// <summary>Creates the exception for a limit in bytes.</summary>
    public LineTooLongException(int maxLineLength)
        : base($"line exceeds the limit of {maxLineLength} bytes")
    {
        MaxLineLength = maxLineLength;
    }

    /// <summary>The limit that was passed, in bytes.</summary>
    public int MaxLineLength { get; }
}
