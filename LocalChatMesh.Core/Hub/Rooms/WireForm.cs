namespace LocalChatMesh.Hub.Rooms;

/// <summary>
/// The wire variants of one room event. A message is encoded at most once per variant, and the
/// same bytes go to every recipient of that variant: never once per recipient.
/// </summary>
internal enum WireForm
{
    /// <summary>Exactly the version 1 bytes: no room, no id, no time.</summary>
    V1 = 0,

    /// <summary>Version 1 fields plus <c>id</c> and <c>time</c> (granted <c>meta</c>, not <c>rooms</c>).</summary>
    Meta = 1,

    /// <summary>With <c>room</c> (granted <c>rooms</c>, not <c>meta</c>).</summary>
    Rooms = 2,

    /// <summary>With <c>room</c>, <c>id</c> and <c>time</c>.</summary>
    RoomsMeta = 3,

    /// <summary>A chat replayed from history: <c>room</c>, <c>id</c>, <c>time</c> and <c>history: true</c>.</summary>
    History = 4,
}

/// <summary>Which fields a <see cref="WireForm"/> carries: the one place that says so.</summary>
internal static class WireForms
{
    /// <summary>Whether the form names the room.</summary>
    public static bool HasRoom(this WireForm form) => form >= WireForm.Rooms;

    /// <summary>Whether the form carries a chat's <c>id</c> and <c>time</c>.</summary>
    public static bool HasMeta(this WireForm form) => form is WireForm.Meta or >= WireForm.RoomsMeta;

    /// <summary>The <c>history</c> field: true for a replayed chat, absent otherwise.</summary>
    public static bool? History(this WireForm form) => form == WireForm.History ? true : null;
}

/// <summary>What a connection was granted in its handshake.</summary>
[Flags]
internal enum Grants
{
    None = 0,
    Rooms = 1,
    Direct = 2,
    History = 4,
    Meta = 8,
}
