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
        if (message is ChatBroadcastMessage chat)
        {
            // The broker's one message per chat: written by hand, because the serializer allocates
            // a stack of frames for every polymorphic message (about a fifth of the broker's
            // allocations in a room workload). Byte for byte what the serializer writes (tested).
            WriteChat(writer, chat.Nickname, chat.Text, default, chat.Room, chat.Id, chat.Time, chat.History);
        }
        else
        {
            JsonSerializer.Serialize(writer, message, ProtocolJsonContext.Default.ServerMessage);
        }

        return Finish(buffer, writer);
    }

    /// <summary>
    /// Encodes a chat broadcast from its fields, exactly as <see cref="Encode(ServerMessage)"/> encodes
    /// the <see cref="ChatBroadcastMessage"/> they make, without making it (the broker's room log).
    /// </summary>
    internal static byte[] EncodeChat(string nickname, ReadOnlySpan<byte> utf8Text, string? room, long? id, DateTimeOffset? time, bool? history)
    {
        if (ChatFrame.TryBuild(nickname, utf8Text, room, id, time, history) is { } frame)
        {
            return frame;
        }

        var (buffer, writer) = Rent();
        WriteChat(writer, nickname, null, utf8Text, room, id, time, history);
        return Finish(buffer, writer);
    }

    /// <summary>Encodes with the source-generated serializer only: what the hand-written paths must match.</summary>
    internal static byte[] EncodeWithSerializer(ServerMessage message)
    {
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

    // The names, escaped once rather than checked for escapes in every chat.
    private static readonly JsonEncodedText TypeName = JsonEncodedText.Encode("type"u8);
    private static readonly JsonEncodedText ChatType = JsonEncodedText.Encode("chat"u8);
    private static readonly JsonEncodedText NicknameName = JsonEncodedText.Encode("nickname"u8);
    private static readonly JsonEncodedText TextName = JsonEncodedText.Encode("text"u8);
    private static readonly JsonEncodedText RoomName = JsonEncodedText.Encode("room"u8);
    private static readonly JsonEncodedText IdName = JsonEncodedText.Encode("id"u8);
    private static readonly JsonEncodedText TimeName = JsonEncodedText.Encode("time"u8);
    private static readonly JsonEncodedText HistoryName = JsonEncodedText.Encode("history"u8);

    // The serializer's order: the discriminator, the record's parameters, then its other
    // properties as declared; optional ones only when set. The text is the string when there is
    // one (an app's message, where a lone surrogate goes out as the serializer writes it: \uFFFD),
    // else its UTF-8 (the broker's, always valid), escaped by the same encoder (tested on random text).
    private static void WriteChat(Utf8JsonWriter writer, string nickname, string? text, ReadOnlySpan<byte> utf8Text, string? room, long? id, DateTimeOffset? time, bool? history)
    {
        writer.WriteStartObject();
        writer.WriteString(TypeName, ChatType);
        writer.WriteString(NicknameName, nickname);
        if (text is not null)
        {
            writer.WriteString(TextName, text);
        }
        else
        {
            writer.WriteString(TextName, utf8Text);
        }

        if (room is not null)
        {
            writer.WriteString(RoomName, room);
        }

        if (id is { } value)
        {
            writer.WriteNumber(IdName, value);
        }

        if (time is { } when)
        {
            writer.WritePropertyName(TimeName);
            WireTimeConverter.WriteTime(writer, when);
        }

        if (history is { } replayed)
        {
            writer.WriteBoolean(HistoryName, replayed);
        }

        writer.WriteEndObject();
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
