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
