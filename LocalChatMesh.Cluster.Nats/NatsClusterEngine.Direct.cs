using LocalChatMesh.Cluster;
using LocalChatMesh.Cluster.Nats.Internal;
using NATS.Client.Core;

namespace LocalChatMesh.Cluster.Nats;

/// <summary>
/// Direct messages between brokers: core NATS request/reply on a subject per broker, addressed by the
/// recipient's nickname (<c>{cluster}.broker.{id}.direct.{nickname}</c>). Not JetStream: a direct message
/// has no room order to keep and no history, and the sender must learn at once whether it was
/// delivered (the protocol's <c>no such user</c> and <c>cannot receive</c> errors), which a reply gives.
/// One subscription per broker for its whole life, rather than one per nickname, so a client can be
/// written to the moment its reservation exists, with no wait for subscription interest to spread.
/// </summary>
public sealed partial class NatsClusterEngine
{
    private int _serving;

    /// <summary>
    /// Hands a direct message to the broker that holds the recipient's nickname (see
    /// <see cref="FindNicknameAsync"/>) and waits for its answer. Never throws for NATS trouble: no answer in
    /// <see cref="NatsClusterOptions.RequestTimeout"/> is <see cref="DirectDelivery.Unreachable"/>.
    /// </summary>
    public async Task<DirectDelivery> SendDirectAsync(string brokerId, string recipientKey, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(brokerId);
        ArgumentException.ThrowIfNullOrEmpty(recipientKey);
        try
        {
            var reply = await _connection.RequestAsync<ReadOnlyMemory<byte>, byte[]>(
                _names.DirectSubject(brokerId, recipientKey),
                payload,
                replyOpts: new NatsSubOpts { Timeout = _options.RequestTimeout },
                cancellationToken: cancellationToken).ConfigureAwait(false);
            return reply.Data is [var status] && Enum.IsDefined((DirectDelivery)status) ? (DirectDelivery)status : DirectDelivery.Unreachable;
        }
        catch (Exception exception) when (IsTransient(exception) && !cancellationToken.IsCancellationRequested)
        {
            return DirectDelivery.Unreachable;
        }
    }

    /// <summary>
    /// Starts answering direct messages sent to this broker's clients: <paramref name="deliver"/> queues
    /// the message for the recipient and says what became of it (it should be quick: the sender waits).
    /// </summary>
    /// <exception cref="InvalidOperationException">Already serving.</exception>
    public void ServeDirectMessages(Func<IncomingDirect, DirectDelivery> deliver)
    {
        ArgumentNullException.ThrowIfNull(deliver);
        if (Interlocked.Exchange(ref _serving, 1) == 1)
        {
            throw new InvalidOperationException("Direct messages are served already.");
        }

        lock (_loops)
        {
            _loops.Add(ServeDirectAsync(deliver, _stopping.Token));
        }
    }

    private async Task ServeDirectAsync(Func<IncomingDirect, DirectDelivery> deliver, CancellationToken stopping)
    {
        var prefix = _names.DirectSubjects(BrokerId)[..^1];
        try
        {
            await foreach (var message in _connection.SubscribeAsync<byte[]>(_names.DirectSubjects(BrokerId), cancellationToken: stopping).ConfigureAwait(false))
            {
                var status = DirectDelivery.NoSuchUser;
                if (message.Subject.StartsWith(prefix, StringComparison.Ordinal) && ClusterNames.TryParseNicknameKey(message.Subject[prefix.Length..], out var recipientKey))
                {
                    try
                    {
                        status = deliver(new IncomingDirect(recipientKey, message.Data ?? []));
                    }
                    catch (Exception exception) when (exception is not OutOfMemoryException)
                    {
                        Log.DirectHandlerFailed(_logger, exception);
                        status = DirectDelivery.Unreachable;
                    }
                }

                await message.ReplyAsync(new[] { (byte)status }, cancellationToken: stopping).ConfigureAwait(false);
            }
        }
        catch (Exception exception) when (stopping.IsCancellationRequested && exception is not OutOfMemoryException)
        {
            // Stopping: a request in flight may fail with anything the client throws, not only a
            // cancellation, and the engine's dispose must not (it waits for this loop).
        }
    }
}
