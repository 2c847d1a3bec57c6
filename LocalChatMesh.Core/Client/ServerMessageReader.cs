using System.Buffers;
using System.IO.Pipelines;
using LocalChatMesh.Protocol;

namespace LocalChatMesh;

/// <summary>
/// Reads server messages one at a time off a stream. Unlike <see cref="LineFramer.ReadLinesAsync"/>
/// it consumes only the line it returns, so the handshake can stop after <c>welcome</c> and leave
/// the <c>roster</c> behind it in the pipe for the reader loop.
/// </summary>
internal sealed class ServerMessageReader(Stream stream, int maxLineLength)
{
    private readonly PipeReader _pipe = PipeReader.Create(
        stream,
        new StreamPipeReaderOptions(leaveOpen: true, useZeroByteReads: true));

    /// <summary>The next message, or null when the broker closed its side.</summary>
    /// <exception cref="InvalidDataException">The broker sent a line that breaks the protocol.</exception>
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
                var decoded = line.IsSingleSegment
                    ? MessageDecoder.TryDecodeServerMessage(line.FirstSpan, out var message, out var error)
                    : MessageDecoder.TryDecodeServerMessage(line.ToArray(), out message, out error);
                _pipe.AdvanceTo(buffer.Start);
                return decoded ? message : throw new InvalidDataException($"the broker sent an invalid line: {error}");
            }

            _pipe.AdvanceTo(buffer.Start, buffer.End);
            if (status == FrameStatus.TooLong)
            {
                throw new InvalidDataException($"the broker sent a line longer than {maxLineLength} bytes");
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
