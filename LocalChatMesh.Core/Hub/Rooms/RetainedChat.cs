namespace LocalChatMesh.Hub.Rooms;

/// <summary>
/// A chat in the hub's history queue (every room's chats, oldest first, for the global limits):
/// which room holds it, its id, and when it was accepted. A value, not a reference to the chat:
/// the room's log holds the chat, and says whether it still does.
/// </summary>
internal readonly record struct RetainedChat(Room Room, long Id, long UtcTicks)
{
    /// <summary>False once its room has let it go.</summary>
    public bool Retained => Room.Log.Holds(Id);
}
