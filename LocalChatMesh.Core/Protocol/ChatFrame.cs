using System.Text;
using System.Text.Encodings.Web;

namespace LocalChatMesh.Protocol;

/// <summary>
/// A chat frame put together from its parts when none of them needs escaping, which is nearly
/// always: its length is known up front, so it is one array written once, without the JSON
/// writer's buffer, checks and final copy (~17 % of a 20-room broker's CPU went to encoding,
/// BENCHMARKS.md "Chat frames by hand"). The bytes are exactly the writer's (tested on random
/// text); anything that needs escaping is left to the writer.
/// </summary>
internal static class ChatFrame
{
    // The nickname is at most 32 scalar values (NicknameRules), the room 32 ASCII characters; a
    // longer one (an app's own hub) is left to the writer.
    private const int MaxNameBytes = 128;

    private static ReadOnlySpan<byte> Start => "{\"type\":\"chat\",\"nickname\":\""u8;

    private static ReadOnlySpan<byte> TextName => "\",\"text\":\""u8;

    private static ReadOnlySpan<byte> RoomName => "\",\"room\":\""u8;

    private static ReadOnlySpan<byte> IdName => ",\"id\":"u8;

    private static ReadOnlySpan<byte> TimeName => ",\"time\":\""u8;

    private static ReadOnlySpan<byte> HistoryTrue => ",\"history\":true"u8;

    private static ReadOnlySpan<byte> HistoryFalse => ",\"history\":false"u8;

    /// <summary>The frame, ending in <c>\n</c>; null when a part needs escaping or is unusually long.</summary>
    public static byte[]? TryBuild(string nickname, ReadOnlySpan<byte> utf8Text, string? room, long? id, DateTimeOffset? time, bool? history)
    {
        Span<byte> nick = stackalloc byte[MaxNameBytes];
        Span<byte> roomBytes = stackalloc byte[MaxNameBytes];
        Span<byte> idBytes = stackalloc byte[20];
        var encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping;
        if (!Encoding.UTF8.TryGetBytes(nickname, nick, out var nickLength)
            || encoder.FindFirstCharacterToEncodeUtf8(nick[..nickLength]) >= 0
            || encoder.FindFirstCharacterToEncodeUtf8(utf8Text) >= 0)
        {
            return null;
        }

        var roomLength = 0;
        if (room is not null
            && (!Encoding.UTF8.TryGetBytes(room, roomBytes, out roomLength) || encoder.FindFirstCharacterToEncodeUtf8(roomBytes[..roomLength]) >= 0))
        {
            return null;
        }

        // The writer's number format: invariant digits, a minus sign when negative.
        var idLength = 0;
        if (id is { } value && !value.TryFormat(idBytes, out idLength, default, System.Globalization.CultureInfo.InvariantCulture))
        {
            return null;
        }

        // The quote after the text closes the room instead when there is one (RoomName opens with it).
        var length = Start.Length + nickLength + TextName.Length + utf8Text.Length
            + (room is null ? 0 : RoomName.Length + roomLength) + 1
            + (id is null ? 0 : IdName.Length + idLength)
            + (time is null ? 0 : TimeName.Length + 24 + 1)
            + (history switch { true => HistoryTrue.Length, false => HistoryFalse.Length, null => 0 })
            + 2;
        var frame = GC.AllocateUninitializedArray<byte>(length);
        var rest = frame.AsSpan();
        Put(ref rest, Start);
        Put(ref rest, nick[..nickLength]);
        Put(ref rest, TextName);
        Put(ref rest, utf8Text);
        if (room is not null)
        {
            Put(ref rest, RoomName);
            Put(ref rest, roomBytes[..roomLength]);
        }

        Put(ref rest, "\""u8);
        if (id is not null)
        {
            Put(ref rest, IdName);
            Put(ref rest, idBytes[..idLength]);
        }

        if (time is { } when)
        {
            Put(ref rest, TimeName);
            WireTimeConverter.FormatUtf8(when, rest);
            rest = rest[24..];
            Put(ref rest, "\""u8);
        }

        if (history is { } replayed)
        {
            Put(ref rest, replayed ? HistoryTrue : HistoryFalse);
        }

        Put(ref rest, "}\n"u8);
        return frame;
    }

    private static void Put(ref Span<byte> rest, scoped ReadOnlySpan<byte> bytes)
    {
        bytes.CopyTo(rest);
        rest = rest[bytes.Length..];
    }
}
