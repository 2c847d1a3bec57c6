using LocalChatMesh.Cluster;
using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;

namespace LocalChatMesh.Cluster.Nats;

/// <summary>Reading one room's history straight from the stream (a broker that lacks it locally).</summary>
public sealed partial class NatsClusterEngine
{
    // JetStream's "no message found" (err_code 10037) comes with HTTP-like code 404.
    private const int NotFound = 404;

    // Reads a room's chats after `afterSequence` up to the newest one there is now, then stops.
    private async Task ReadChatsAsync(string roomKey, long afterSequence, Action<ClusterRoomEvent> onChat, CancellationToken cancellationToken)
    {
        var subject = _names.RoomSubject(roomKey, RoomEventKind.Chat);
        try
        {
            var newest = await NewestSequenceAsync(subject, cancellationToken).ConfigureAwait(false);
            if (newest <= afterSequence)
            {
                return;
            }

            // A chat dropped by retention while we read would leave us waiting for `newest` forever:
            // the read is bounded by the request timeout too, and NumPending 0 means we are at the end.
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stopping.Token);
            deadline.CancelAfter(_options.RequestTimeout);
            var consumer = await _stream.CreateOrUpdateConsumerAsync(OneRoomFrom(subject, afterSequence), deadline.Token).ConfigureAwait(false);
            try
            {
                await foreach (var message in consumer.ConsumeAsync<byte[]>(cancellationToken: deadline.Token).ConfigureAwait(false))
                {
                    if (ToEvent(message) is { } chat)
                    {
                        onChat(chat);
                        if (chat.Sequence >= newest || message.Metadata?.NumPending == 0)
                        {
                            return;
                        }
                    }
                }
            }
            finally
            {
                // Best effort: the server removes it after its inactive threshold anyway.
                await ((Task)_stream.DeleteConsumerAsync(consumer.Info.Name, CancellationToken.None).AsTask()).WaitAsync(_options.RequestTimeout, CancellationToken.None).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }
        catch (Exception exception) when (IsTransient(exception) && !cancellationToken.IsCancellationRequested)
        {
            throw Unavailable("cluster unavailable: room history could not be read", exception);
        }
    }

    // A short-lived consumer of one room's chats: no acks, in memory, gone 30 s after its last use.
    private static ConsumerConfig OneRoomFrom(string subject, long afterSequence) => new()
    {
        Name = $"history-{Guid.NewGuid():N}",
        FilterSubject = subject,
        DeliverPolicy = afterSequence == 0 ? ConsumerConfigDeliverPolicy.All : ConsumerConfigDeliverPolicy.ByStartSequence,
        OptStartSeq = afterSequence == 0 ? 0 : (ulong)afterSequence + 1,
        AckPolicy = ConsumerConfigAckPolicy.None,
        MemStorage = true,
        InactiveThreshold = TimeSpan.FromSeconds(30),
    };

    private async Task<long> NewestSequenceAsync(string subject, CancellationToken cancellationToken)
    {
        try
        {
            var response = await _stream.GetAsync(new StreamMsgGetRequest { LastBySubj = subject }, cancellationToken).ConfigureAwait(false);
            return (long)response.Message.Seq;
        }
        catch (NatsJSApiException exception) when (exception.Error.Code == NotFound)
        {
            return 0;
        }
    }

    private async Task<bool> HoldsEverythingAfterAsync(string roomKey, long afterSequence, CancellationToken cancellationToken)
    {
        var subject = _names.RoomSubject(roomKey, RoomEventKind.Chat);
        try
        {
            if (afterSequence > 0)
            {
                // The client's last chat is still held, so is everything after it: rooms lose chats oldest first.
                try
                {
                    var response = await _stream.GetAsync(new StreamMsgGetRequest { Seq = (ulong)afterSequence }, cancellationToken).ConfigureAwait(false);
                    return response.Message.Subject == subject;
                }
                catch (NatsJSApiException exception) when (exception.Error.Code == NotFound)
                {
                    return false;
                }
            }

            if (_options.History.MaxAge != Timeout.InfiniteTimeSpan)
            {
                return false;
            }

            var info = await _js.GetStreamAsync(_names.Stream, new StreamInfoRequest { SubjectsFilter = subject }, cancellationToken).ConfigureAwait(false);
            var held = info.Info.State.Subjects is { } subjects && subjects.TryGetValue(subject, out var count) ? count : 0;
            return held < _options.History.MaxMessagesPerRoom;
        }
        catch (Exception exception) when (IsTransient(exception) && !cancellationToken.IsCancellationRequested)
        {
            throw Unavailable("cluster unavailable: room history could not be read", exception);
        }
    }
}
