namespace LocalChatMesh.Storage;

/// <summary>What <see cref="IChatStore.OpenAsync"/> found in a store.</summary>
/// <param name="Epoch">
/// An opaque string made when the store was created and returned on every open; a new or wiped
/// store has a new one, so a client holding an old epoch knows it has a gap.
/// </param>
/// <param name="LastId">
/// The highest id ever stored, even if retention has since deleted that message; 0 for a new
/// store. The broker's next id must be above it.
/// </param>
/// <param name="Messages">The retained messages of every room, oldest first (ordered by id).</param>
public sealed record ChatStoreSnapshot(string Epoch, long LastId, IReadOnlyList<StoredChat> Messages);
