using LocalChatMesh.Protocol;

namespace LocalChatMesh.Hub.Rooms;

/// <summary>What a room's live fan-out publishes: an event's frame in each <see cref="WireForm"/> asked for.</summary>
internal interface IRoomFrames
{
    byte[] Frame(WireForm form);
}

/// <summary>An entry of a room's log, by position (a chat, published as it is appended).</summary>
internal readonly struct LoggedEntry(RoomLog log, long position) : IRoomFrames
{
    public byte[] Frame(WireForm form) => log.Frame(position, form);
}

/// <summary>
/// Somebody joined or left the room. Presence is in the room's order but is not history: it is
/// published live, and held in the log only while a member catching up must read it in order.
/// Its frames are encoded once per form somebody needs and shared by every recipient.
/// </summary>
internal sealed class PresenceEntry(string roomName, string nickname, bool joined) : IRoomFrames
{
    // One field per form rather than an array: presence is rare, but there is no need for two objects.
    private byte[]? _v1;
    private byte[]? _rooms;

    // Presence carries no id or time: the meta forms are the plain ones.
    public byte[] Frame(WireForm form) => form.HasRoom()
        ? _rooms ??= MessageEncoder.Encode(Message(form))
        : _v1 ??= MessageEncoder.Encode(Message(form));

    public ServerMessage Message(WireForm form)
    {
        var room = form.HasRoom() ? roomName : null;
        return joined ? new UserJoinedMessage(nickname) { Room = room } : new UserLeftMessage(nickname) { Room = room };
    }
}
