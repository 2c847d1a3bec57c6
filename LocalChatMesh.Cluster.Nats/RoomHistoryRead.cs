namespace LocalChatMesh.Cluster.Nats;

/// <summary>A room's chats read from the cluster for a client coming back (see <see cref="NatsClusterEngine.ReadChatsAfterAsync"/>).</summary>
/// <param name="Chats">The chats after the position asked for, oldest first.</param>
/// <param name="Complete">
/// True when the cluster still holds every chat after that position; false when some may have been
/// dropped by the history limits (the client has a gap and must be told so).
/// </param>
public sealed record RoomHistoryRead(IReadOnlyList<ClusterRoomEvent> Chats, bool Complete);
