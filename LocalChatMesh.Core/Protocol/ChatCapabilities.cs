namespace LocalChatMesh.Protocol;

/// <summary>The names of the version 2 extensions a client asks for in <c>hello</c> and the broker grants in <c>welcome</c>.</summary>
public static class ChatCapabilities
{
    /// <summary>Rooms: join, leave, rooms, who; chats carry their room.</summary>
    public const string Rooms = "rooms";

    /// <summary>Direct messages between two participants.</summary>
    public const string Direct = "direct";

    /// <summary>History and resume when joining a room; needs <see cref="Rooms"/> and <see cref="Meta"/>.</summary>
    public const string History = "history";

    /// <summary>Message ids and server time on chats and direct messages.</summary>
    public const string Meta = "meta";

    /// <summary>Every capability this library knows, in the order the broker lists them.</summary>
    public static IReadOnlyList<string> All { get; } = Array.AsReadOnly([Rooms, Direct, History, Meta]);
}
