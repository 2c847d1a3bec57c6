using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace LocalChatMesh.Protocol;

/// <summary>
/// Turns a message into its wire form: one JSON object in UTF-8 followed by <c>\n</c>.
/// A broadcast is encoded once and the same array is handed to every recipient, so the
/// returned arrays must be treated as immutable.
/// </summary>
public static class MessageEncoder
{
    // Non-ASCII text goes out as raw UTF-8, like the original example; only what JSON requires
    // (quotes, backslashes, control characters) is escaped. The output is never embedded in HTML.
    private static readonly JsonWriterOptions WriterOptions = new()
    {
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        Indented = false,
    };

    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_buffer;

    [ThreadStatic]
    private static Utf8JsonWriter? t_writer;

    /// <summary>Encodes a server message into a new array ending in <c>\n</c>.</summary>
    public static byte[] Encode(ServerMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        var (buffer, writer) = Rent();
        JsonSerializer.Serialize(writer, message, ProtocolJsonContext.Default.ServerMessage);
        return Finish(buffer, writer);
    }

    /// <summary>Encodes a client message into a new array ending in <c>\n</c>.</summary>
    public static byte[] Encode(ClientMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        var (buffer, writer) = Rent();
        JsonSerializer.Serialize(writer, message, ProtocolJsonContext.Default.ClientMessage);
        return Finish(buffer, writer);
    }

    // One buffer and writer per thread: encoding allocates only the returned array.
    private static (ArrayBufferWriter<byte> Buffer, Utf8JsonWriter Writer) Rent()
    {
        var buffer = t_buffer ??= new ArrayBufferWriter<byte>(256);
        buffer.ResetWrittenCount();
        var writer = t_writer ??= new Utf8JsonWriter(buffer, WriterOptions);
        writer.Reset(buffer);
        return (buffer, writer);
    }

    private static byte[] Finish(ArrayBufferWriter<byte> buffer, Utf8JsonWriter writer)
    {
        writer.Flush();
        var written = buffer.WrittenSpan;
        var frame = GC.AllocateUninitializedArray<byte>(written.Length + 1);
        written.CopyTo(frame);
        frame[^1] = (byte)'\n';
        return frame;
    }
}
