namespace LocalChatMesh.Storage;

/// <summary>
/// Where a broker keeps its room history so that it survives a restart: an append-only log of
/// chats with one id sequence for all rooms, bounded per room by a <see cref="ChatStoreRetention"/>,
/// and an epoch that changes whenever history is lost. One store belongs to one broker at a time.
/// </summary>
/// <remarks>
/// Rooms are compared ignoring case, as the protocol compares room names. Times are kept to
/// the millisecond. Failures the user can act on (a corrupt or locked file, no space left) are
/// thrown as <see cref="ChatStoreException"/> with a one-line message.
/// </remarks>
public interface IChatStore : IAsyncDisposable
{
    /// <summary>
    /// Opens the store, creating it if needed, and returns what survived: the epoch, the highest id
    /// ever stored (0 for a new store) and the retained messages of every room, oldest first
    /// (ordered by id), already trimmed by <paramref name="retention"/>. Call it once, before
    /// <see cref="AppendAsync"/>.
    /// </summary>
    /// <param name="retention">How much history to keep; also applied to later appends.</param>
    /// <param name="cancellationToken">Cancels the wait before the store is opened.</param>
    /// <exception cref="ChatStoreException">The store cannot be opened or read.</exception>
    /// <exception cref="InvalidOperationException">The store was opened already.</exception>
    Task<ChatStoreSnapshot> OpenAsync(ChatStoreRetention retention, CancellationToken cancellationToken = default);

    /// <summary>
    /// Appends <paramref name="batch"/> in one transaction and completes once it is committed:
    /// from then on it survives the broker process being killed. Ids in a batch must increase and
    /// be above every id stored before. Retention is applied as part of the append. Appends started
    /// without waiting for the previous one are written in the order they were called.
    /// </summary>
    /// <param name="batch">The messages, in id order; an empty batch does nothing.</param>
    /// <param name="cancellationToken">Cancels the wait before the batch is written.</param>
    /// <exception cref="ChatStoreException">The batch was not written (for example, the disk is full).</exception>
    /// <exception cref="ArgumentException">The ids are not increasing or not above the last id stored.</exception>
    /// <exception cref="InvalidOperationException">The store is not open.</exception>
    Task AppendAsync(IReadOnlyList<StoredChat> batch, CancellationToken cancellationToken = default);
}
