namespace LocalChatMesh.Storage;

/// <summary>Checks every <see cref="IChatStore"/> implementation makes of the batches it is given.</summary>
public static class StoredChatBatch
{
    /// <summary>Throws unless the batch holds no null and its ids increase, all above <paramref name="lastId"/>.</summary>
    /// <param name="batch">The batch given to <see cref="IChatStore.AppendAsync"/>.</param>
    /// <param name="lastId">The highest id stored before it.</param>
    /// <exception cref="ArgumentException">The batch breaks the rule; the message names the first offending index.</exception>
    public static void EnsureIncreasingIds(IReadOnlyList<StoredChat> batch, long lastId)
    {
        ArgumentNullException.ThrowIfNull(batch);
        var previous = lastId;
        for (var i = 0; i < batch.Count; i++)
        {
            var chat = batch[i] ?? throw new ArgumentException($"The batch holds null at index {i}.", nameof(batch));
            if (chat.Id <= previous)
            {
                throw new ArgumentException(
                    $"Ids must increase and be above the last id stored ({lastId}): id {chat.Id} at index {i} follows {previous}.",
                    nameof(batch));
            }

            previous = chat.Id;
        }
    }
}
