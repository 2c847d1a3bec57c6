namespace LocalChatMesh.Cluster;

/// <summary>What a room event is: history (a chat) or presence (not history, but in the same order).</summary>
public enum RoomEventKind
{
    /// <summary>A chat line: part of the room's history.</summary>
    Chat,

    /// <summary>Somebody joined or left: in the room's order, not history.</summary>
    Presence,
}

/// <summary>
/// One event of a room as the cluster ordered it. <see cref="Sequence"/> is its place in the one stream
/// that holds every room: it increases in every room's order, so a chat's sequence is its id.
/// </summary>
/// <param name="Sequence">The JetStream stream sequence: positive, increasing, unique in the cluster.</param>
/// <param name="RoomKey">The room's key (its name compared ignoring case), as it was appended.</param>
/// <param name="Kind">Chat or presence.</param>
/// <param name="Time">When the NATS server stored it.</param>
/// <param name="Payload">What the broker appended, byte for byte.</param>
public sealed record ClusterRoomEvent(long Sequence, string RoomKey, RoomEventKind Kind, DateTimeOffset Time, ReadOnlyMemory<byte> Payload);
