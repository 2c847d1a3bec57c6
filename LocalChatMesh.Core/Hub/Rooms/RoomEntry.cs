using System.Text;
using LocalChatMesh.Protocol;

namespace LocalChatMesh.Hub.Rooms;

/// <summary>
/// One event in a room's log: a chat (history) or a presence change (not history). Its frames are
/// encoded lazily, once per <see cref="WireForm"/> that somebody needs, and shared by every recipient.
/// </summary>
internal abstract class RoomEntry(Room room)
{
    // One field per form rather than an array: one allocation less per chat on the hot path.
    private byte[]? _v1;
    private byte[]? _meta;
    private byte[]? _rooms;
    private byte[]? _roomsMeta;
    private byte[]? _history;

    public Room Room { get; } = room;

    /// <summary>The entry's place in its room's log (not an id: presence has positions too).</summary>
    public long Position { get; set; }

    /// <summary>False once the log has let it go.</summary>
    public bool Retained { get; set; } = true;

    /// <summary>An estimate of the memory it holds while retained, for the history byte limits.</summary>
    public abstract long SizeBytes { get; }

    public byte[] Frame(WireForm form) => form switch
    {
        WireForm.V1 => _v1 ??= Encode(form),
        WireForm.Meta => _meta ??= Encode(form),
        WireForm.Rooms => _rooms ??= Encode(form),
        WireForm.RoomsMeta => _roomsMeta ??= Encode(form),
        _ => _history ??= Encode(form),
    };

    /// <summary>
    /// Lets the live frames go once the fan-out is done: the queues hold them as long as they need,
    /// and history keeps only the text (and the replay frame, once somebody asked for it).
    /// </summary>
    public void ForgetLiveFrames()
    {
        _v1 = null;
        _meta = null;
        _rooms = null;
        _roomsMeta = null;
    }

    /// <summary>The message's frame as the serializer writes it: what <see cref="Frame"/> must equal.</summary>
    internal byte[] EncodeWithSerializer(WireForm form) => MessageEncoder.EncodeWithSerializer(Build(form));

    protected virtual byte[] Encode(WireForm form) => MessageEncoder.Encode(Build(form));

    protected abstract ServerMessage Build(WireForm form);
}

/// <summary>A chat line: the room's history is made of these.</summary>
/// <remarks>
/// The text is held as UTF-8, as the sender's line had it: the frames are UTF-8, so no UTF-16
/// string is made for a chat on the broker's own path (BENCHMARKS.md, "A chat as its bytes").
/// </remarks>
internal sealed class ChatEntry(Room room, long id, DateTimeOffset time, string nickname, byte[] utf8Text) : RoomEntry(room)
{
    // What one retained chat costs, roughly: the entry, its nickname and text, its slots in the
    // room's log and the history queue, one cached replay frame, and the GC's share. Calibrated
    // with bench --fill-rooms (BENCHMARKS.md, "History workloads"): 160 undercounted real memory by half.
    private const int Overhead = 400;

    /// <summary>A chat whose text came as a string (the store, the cluster).</summary>
    public ChatEntry(Room room, long id, DateTimeOffset time, string nickname, string text)
        : this(room, id, time, nickname, Encoding.UTF8.GetBytes(text))
    {
    }

    public long Id { get; } = id;

    public DateTimeOffset Time { get; } = time;

    public string Nickname { get; } = nickname;

    /// <summary>The text as UTF-8; shared, never changed.</summary>
    public byte[] Utf8Text { get; } = utf8Text;

    // Per text byte: the bytes themselves, the replay frame's copy, and one for escapes and the
    // like (the same figure as when the text was a UTF-16 string, for ASCII text).
    public override long SizeBytes { get; } = Overhead + (3L * (nickname.Length + utf8Text.Length));

    // Straight from the fields: no message object per chat and variant (the same bytes as Build's, tested).
    protected override byte[] Encode(WireForm form) => form switch
    {
        WireForm.V1 => MessageEncoder.EncodeChat(Nickname, Utf8Text, null, null, null, null),
        WireForm.Meta => MessageEncoder.EncodeChat(Nickname, Utf8Text, null, Id, Time, null),
        WireForm.Rooms => MessageEncoder.EncodeChat(Nickname, Utf8Text, Room.Name, null, null, null),
        WireForm.RoomsMeta => MessageEncoder.EncodeChat(Nickname, Utf8Text, Room.Name, Id, Time, null),
        _ => MessageEncoder.EncodeChat(Nickname, Utf8Text, Room.Name, Id, Time, true),
    };

    protected override ServerMessage Build(WireForm form)
    {
        var text = Encoding.UTF8.GetString(Utf8Text);
        return form switch
        {
            WireForm.V1 => new ChatBroadcastMessage(Nickname, text),
            WireForm.Meta => new ChatBroadcastMessage(Nickname, text) { Id = Id, Time = Time },
            WireForm.Rooms => new ChatBroadcastMessage(Nickname, text) { Room = Room.Name },
            WireForm.RoomsMeta => new ChatBroadcastMessage(Nickname, text) { Room = Room.Name, Id = Id, Time = Time },
            _ => new ChatBroadcastMessage(Nickname, text) { Room = Room.Name, Id = Id, Time = Time, History = true },
        };
    }
}

/// <summary>Somebody joined or left the room. Presence is in the room's order but is not history.</summary>
internal sealed class PresenceEntry(Room room, string nickname, bool joined) : RoomEntry(room)
{
    public override long SizeBytes => 128;

    protected override ServerMessage Build(WireForm form)
    {
        var room = form >= WireForm.Rooms ? Room.Name : null;
        return joined ? new UserJoinedMessage(nickname) { Room = room } : new UserLeftMessage(nickname) { Room = room };
    }
}
