using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Threading.Channels;
using LocalChatMesh.Cluster;
using LocalChatMesh.Diagnostics;
using LocalChatMesh.Hub.Rooms;
using LocalChatMesh.Protocol;

namespace LocalChatMesh.Hub;

/// <summary>
/// A broker that is one of several (<see cref="BrokerOptions.Cluster"/>). The rooms here become a
/// replica of the cluster's: every chat and presence event is appended to the cluster, and what
/// the cluster reads back, in its one order, is applied to the same room logs, rosters and live
/// fan-out a broker of its own uses (so history, resume, flow control and the wire forms are the
/// same code). This broker's own events are applied when they come back like everybody else's,
/// so every client on every broker sees one order per room, and a chat's id comes from its sequence.
/// <list type="bullet">
/// <item>A join is appended as presence; the member starts (the <c>joined</c> snapshot, the replay
/// and the live stream) when its presence comes back, at its place in the order.</item>
/// <item>A nickname is reserved in the cluster before the welcome; a connection's later messages
/// wait meanwhile, in order (<see cref="ConnectionState.Busy"/>).</item>
/// <item>Room members are told apart by connection (<see cref="RosterEntry.Member"/>), so a stale
/// leave of a connection that was replaced elsewhere changes nothing.</item>
/// </list>
/// </summary>
internal sealed partial class ChatHub
{
    internal const string ClusterUnavailableText = "cluster unavailable; messages are not being delivered";

    /// <summary>Messages of one connection that may wait behind a request to the cluster.</summary>
    internal const int MaxDeferredMessages = 1024;

    // A chat's id is its batch's stream sequence times this plus its place in the batch: ids increase
    // in the cluster's order and are the same on every broker.
    internal const int MaxChatsPerBatch = 1024;
    private const int MaxBatchChars = 256 * 1024;
    private const int MaxAppendsPerRound = 8192;

    private static readonly TimeSpan RetryLeaveAfter = TimeSpan.FromSeconds(1);

    // Keys of nicknames being reserved right now by a hello on this broker.
    private readonly HashSet<string> _reserving = new(StringComparer.Ordinal);

    // Appends in the order the hub made them: one at a time, so a client's events keep their order.
    private readonly Channel<ClusterAppend> _appends = Channel.CreateUnbounded<ClusterAppend>(new UnboundedChannelOptions { SingleReader = true });
    private readonly CancellationTokenSource _clusterStopping = new();
    private Task _clusterReading = Task.CompletedTask;
    private Task _clusterAppending = Task.CompletedTask;
    private int _pendingAppends;
    private bool _clusterPressing;
    private DateTimeOffset _nextPresenceRefresh;
    private bool _clusterDown;

    private IChatCluster? Cluster => _options.Cluster;

    private static long ChatId(long sequence, int index) => (sequence * MaxChatsPerBatch) + index;

    // Room names compare ignoring case (RoomNames.Comparer): their upper-case form is the same for every spelling.
    private static string ClusterRoomKey(string roomName) => roomName.ToUpperInvariant();

    /// <summary>
    /// Joins the cluster: reads every room's events the cluster holds into the local replica, then
    /// keeps applying new ones; returns once the replica has caught up with the cluster as it was.
    /// </summary>
    public async Task JoinClusterAsync(CancellationToken cancellationToken)
    {
        var cluster = Cluster!;
        lock (_gate)
        {
            _epoch = cluster.Epoch;
        }

        WarmUp();
        var last = await cluster.GetLastSequenceAsync(cancellationToken).ConfigureAwait(false);
        var caughtUp = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (last == 0)
        {
            caughtUp.TrySetResult();
        }

        _clusterReading = Task.Run(() => ReadClusterAsync(last, caughtUp, _clusterStopping.Token), CancellationToken.None);
        _clusterAppending = Task.Run(AppendLoopAsync, CancellationToken.None);
        _subscriptions.Add(cluster.ConnectionStates.Subscribe(OnClusterState));
        _subscriptions.Add(cluster.ReservationsLost.Subscribe(OnReservationLost));
        cluster.ServeDirectMessages(DeliverFromCluster);
        cluster.StartReaping(AnnounceLeftAsync);
        await caughtUp.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// After <see cref="Shutdown"/>: waits (at most <paramref name="timeout"/>) until the leaves and
    /// releases of this broker's clients are in the cluster, then stops reading it.
    /// </summary>
    public async Task LeaveClusterAsync(TimeSpan timeout)
    {
        if (Cluster is null)
        {
            return;
        }

        _appends.Writer.TryComplete();
        await _clusterAppending.WaitAsync(timeout).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        await _clusterStopping.CancelAsync().ConfigureAwait(false);
        await _clusterReading.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        await _clusterAppending.WaitAsync(timeout).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _clusterStopping.Dispose();
    }

    // The cluster's payload code compiled now rather than in the first chats (full JIT: the first
    // 5 s of a paced run had p99 16.9-41 ms without it, 9.7-16.9 ms with it; BENCHMARKS "Cluster").
    private static void WarmUp()
    {
        var batch = new ClusterChatBatch(Room.Lobby, [new ClusterChat("warm", "up/0", "up")]);
        JsonSerializer.Deserialize(JsonSerializer.SerializeToUtf8Bytes(batch, ClusterJsonContext.Default.ClusterChatBatch), ClusterJsonContext.Default.ClusterChatBatch);
        JsonSerializer.Deserialize(ClusterPresencePayload.Encode(Room.Lobby, "warm", "up/0", joined: true), ClusterJsonContext.Default.ClusterPresencePayload);
    }

    // ---- reading: the cluster's order, applied to the replica ----

    private async Task ReadClusterAsync(long catchUpTo, TaskCompletionSource caughtUp, CancellationToken cancellationToken)
    {
        try
        {
            await foreach (var roomEvent in Cluster!.ReadAllAsync(0, cancellationToken).ConfigureAwait(false))
            {
                lock (_gate)
                {
                    try
                    {
                        Apply(roomEvent);
                    }
                    catch (Exception exception) when (exception is not OutOfMemoryException)
                    {
                        Log.ClusterEventSkipped(_logger, exception, roomEvent.Sequence);
                    }
                }

                if (roomEvent.Sequence >= catchUpTo)
                {
                    caughtUp.TrySetResult();
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        catch (Exception exception) when (exception is not OutOfMemoryException)
        {
            Log.ClusterReadFailed(_logger, exception);
            caughtUp.TrySetException(exception);
        }
        finally
        {
            caughtUp.TrySetException(new ClusterUnavailableException("cluster unavailable: stopped reading before catching up"));
        }
    }

    private void Apply(ClusterRoomEvent roomEvent)
    {
        if (roomEvent.Kind == RoomEventKind.Chat)
        {
            var batch = JsonSerializer.Deserialize(roomEvent.Payload.Span, ClusterJsonContext.Default.ClusterChatBatch)!;
            var room = GetOrAddRoom(batch.Room);
            var ours = Cluster!.BrokerId + "/";
            for (var i = 0; i < batch.Chats.Count && i < MaxChatsPerBatch; i++)
            {
                var chat = batch.Chats[i];
                var id = ChatId(roomEvent.Sequence, i);
                Append(room, id, roomEvent.Time, chat.Nickname, Encoding.UTF8.GetBytes(chat.Text));
                if (chat.Member.StartsWith(ours, StringComparison.Ordinal)
                    && _online.TryGetValue(NicknameRules.Key(chat.Nickname), out var sender) && sender.MemberId == chat.Member)
                {
                    Publish(new ChatEvent(sender.Id, chat.Nickname, chat.Text) { Room = room.Name, Id = id });
                }
            }

            return;
        }

        var presence = JsonSerializer.Deserialize(roomEvent.Payload.Span, ClusterJsonContext.Default.ClusterPresencePayload)!;
        ApplyPresence(GetOrAddRoom(presence.Room), presence);
    }

    private void ApplyPresence(Room room, ClusterPresencePayload presence)
    {
        var key = NicknameRules.Key(presence.Nickname);
        var known = room.Roster.TryGetValue(key, out var current);
        if (!presence.Joined)
        {
            // A leave of a connection that is no longer the member (replaced, or already gone) changes nothing.
            if (known && current.Member == presence.Member)
            {
                room.Roster.Remove(key);
                AppendPresence(room, current.Nickname, joined: false);
                Trim(room);
            }

            RemoveIfGone(room);
            return;
        }

        if (known && current.Member == presence.Member)
        {
            return;
        }

        // Known under another connection: the same person took the nickname over elsewhere; nobody
        // saw them leave, so nobody is told they joined.
        var silent = known;
        room.Roster[key] = new RosterEntry(presence.Nickname, presence.Member);
        if (_online.TryGetValue(key, out var state) && state.MemberId == presence.Member
            && state.Rooms.TryGetValue(room.Name, out var membership) && membership.Room == room && membership.Pending is { } pending)
        {
            membership.Pending = null;
            room.PendingJoins--;
            if (pending.Join is { } join)
            {
                CompleteJoin(state, room, join, membership, silent);
            }
            else
            {
                CompleteLobbyEntry(state, room, membership, silent);
            }

            return;
        }

        if (!silent)
        {
            AppendPresence(room, presence.Nickname, joined: true);
        }
    }

    // ---- appending: what this broker's clients do ----

    private void BeginClusterJoin(ConnectionState state, Room room, JoinMessage? join)
    {
        var membership = new Membership(state, room) { Pending = new PendingJoin(join), AnnouncedAt = _scheduler.Now };
        state.Rooms.Add(room.Name, membership);
        room.PendingJoins++;
        AppendClusterPresence(state, room, joined: true);
    }

    // Under the lock, on the slow-consumer tick. The cluster drops events older than its age limit,
    // presence too, and a broker started later builds its rosters from the presence it still finds:
    // without this, a member who joined longer ago than that would be missing there. A member's join
    // is appended again once it is half that age, checked every quarter of it, so the newest one is
    // always younger than the limit; brokers that know the member already ignore it (ApplyPresence).
    private void RefreshClusterPresence(DateTimeOffset now)
    {
        var maxAge = Cluster!.EventMaxAge;
        if (maxAge <= TimeSpan.Zero || maxAge == Timeout.InfiniteTimeSpan || now < _nextPresenceRefresh)
        {
            return;
        }

        _nextPresenceRefresh = now + maxAge / 4;
        foreach (var state in _online.Values)
        {
            foreach (var membership in state.Rooms.Values)
            {
                if (membership.Pending is null && now - membership.AnnouncedAt >= maxAge / 2)
                {
                    membership.AnnouncedAt = now;
                    var room = membership.Room;
                    var payload = ClusterPresencePayload.Encode(room.Name, state.Nickname!, state.MemberId, joined: true);
                    Enqueue(new ClusterAppend(ClusterAppendKind.Refresh, ClusterRoomKey(room.Name), state.NicknameKey, payload, null, null, null));
                }
            }
        }
    }

    private void AppendClusterPresence(ConnectionState state, Room room, bool joined)
    {
        var payload = ClusterPresencePayload.Encode(room.Name, state.Nickname!, state.MemberId, joined);
        var roomKey = ClusterRoomKey(room.Name);
        Enqueue(new ClusterAppend(ClusterAppendKind.Presence, roomKey, state.NicknameKey, payload, joined ? null : $"left:{state.MemberId}:{roomKey}", state, joined ? room.Name : null));
    }

    private void AppendClusterChat(ConnectionState state, Room room, string text) =>
        Enqueue(new ClusterAppend(ClusterAppendKind.Chat, ClusterRoomKey(room.Name), null, [], null, state, null)
        {
            Chat = new ClusterChat(state.Nickname!, state.MemberId, text),
            RoomName = room.Name,
        });

    private void ReleaseReservation(NicknameReservation reservation) =>
        Enqueue(new ClusterAppend(ClusterAppendKind.Release, "", null, [], null, null, null) { Reservation = reservation });

    private void Enqueue(ClusterAppend append)
    {
        if (!_appends.Writer.TryWrite(append))
        {
            return;
        }

        // Like a slow disk: past the limit every reader pauses until the cluster has caught up.
        if (++_pendingAppends > MaxPendingChats && !_clusterPressing)
        {
            _clusterPressing = true;
            StorePressure?.Invoke(true);
        }
    }

    // Group commit, per room: whatever arrived while the last round was out goes in the next, each
    // room's events in order (consecutive chats of a room in one stream message), rooms side by side.
    private async Task AppendLoopAsync()
    {
        var reader = _appends.Reader;
        var round = new List<ClusterAppend>();
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            round.Clear();
            while (round.Count < MaxAppendsPerRound && reader.TryRead(out var append))
            {
                round.Add(append);
            }

            var byRoom = new Dictionary<string, List<ClusterAppend>>(StringComparer.Ordinal);
            foreach (var append in round)
            {
                if (!byRoom.TryGetValue(append.RoomKey, out var list))
                {
                    byRoom.Add(append.RoomKey, list = []);
                }

                list.Add(append);
            }

            await Task.WhenAll(byRoom.Values.Select(AppendInOrderAsync)).ConfigureAwait(false);
            lock (_gate)
            {
                _pendingAppends -= round.Count;
                if (_pendingAppends <= MaxPendingChats / 2 && _clusterPressing)
                {
                    _clusterPressing = false;
                    StorePressure?.Invoke(false);
                }
            }
        }
    }

    private async Task AppendInOrderAsync(List<ClusterAppend> appends)
    {
        var cluster = Cluster!;
        var i = 0;
        while (i < appends.Count)
        {
            var first = appends[i];
            var run = 1;
            if (first.Kind == ClusterAppendKind.Chat)
            {
                var bytes = first.Chat!.Text.Length;
                while (i + run < appends.Count && run < MaxChatsPerBatch && appends[i + run].Kind == ClusterAppendKind.Chat && bytes < MaxBatchChars)
                {
                    bytes += appends[i + run].Chat!.Text.Length;
                    run++;
                }
            }

            Exception? failure = null;
            try
            {
                switch (first.Kind)
                {
                    case ClusterAppendKind.Release:
                        await cluster.ReleaseNicknameAsync(first.Reservation!, CancellationToken.None).ConfigureAwait(false);
                        break;
                    case ClusterAppendKind.Chat when !cluster.IsConnected:
                        // Waiting for the timeout would only hold up everything behind it.
                        failure = new ClusterUnavailableException(ClusterUnavailableText);
                        break;
                    case ClusterAppendKind.Chat:
                        var batch = new ClusterChatBatch(first.RoomName!, [.. appends.Skip(i).Take(run).Select(append => append.Chat!)]);
                        var payload = JsonSerializer.SerializeToUtf8Bytes(batch, ClusterJsonContext.Default.ClusterChatBatch);
                        await cluster.AppendAsync(first.RoomKey, RoomEventKind.Chat, null, payload, null, CancellationToken.None).ConfigureAwait(false);
                        break;
                    default:
                        await cluster.AppendAsync(first.RoomKey, RoomEventKind.Presence, first.MemberKey, first.Payload, first.DeduplicationId, CancellationToken.None).ConfigureAwait(false);
                        break;
                }
            }
            catch (Exception exception) when (exception is not OutOfMemoryException)
            {
                failure = exception;
            }

            if (failure is not null)
            {
                lock (_gate)
                {
                    for (var k = i; k < i + run; k++)
                    {
                        OnAppendFailed(appends[k], failure);
                    }
                }
            }

            i += run;
        }
    }

    // Under the lock. Nothing is dropped silently: the sender hears of a chat or join that did not
    // make it, and a leave is tried again (its deduplication id keeps it single) so nobody stays listed.
    private void OnAppendFailed(ClusterAppend append, Exception failure)
    {
        Log.ClusterAppendFailed(_logger, failure, append.Kind.ToString());
        var sender = append.Sender;
        switch (append.Kind)
        {
            case ClusterAppendKind.Chat when sender is { Phase: ConnectionPhase.Joined }:
                SendError(sender, ClusterUnavailableText);
                break;
            case ClusterAppendKind.Presence when append.JoiningRoom is { } roomName:
                if (sender is { Phase: ConnectionPhase.Joined } && sender.Rooms.TryGetValue(roomName, out var membership) && membership.Pending is { } pending)
                {
                    RemoveFromRoom(membership, tellOthers: true);
                    if (pending.Join is null)
                    {
                        // A version 1 client cannot be outside the lobby.
                        Refuse(sender, ClusterUnavailableText, DisconnectReason.TransportError);
                    }
                    else
                    {
                        SendError(sender, ClusterUnavailableText);
                    }
                }

                break;
            case ClusterAppendKind.Refresh:
                // Not retried: a retry could land after the member's leave. The next round appends it.
                break;
            case ClusterAppendKind.Presence:
            case ClusterAppendKind.Release:
                if (!_clusterStopping.IsCancellationRequested && !_stopping)
                {
                    _ = RetryLaterAsync(append);
                }

                break;
        }
    }

    private async Task RetryLaterAsync(ClusterAppend append)
    {
        try
        {
            await Task.Delay(RetryLeaveAfter, _clusterStopping.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return;
        }
        catch (ObjectDisposedException)
        {
            return;
        }

        lock (_gate)
        {
            Enqueue(append);
        }
    }

    // ---- nicknames ----

    private void BeginClusterHandshake(ConnectionState state, HelloMessage hello, string nickname, string key)
    {
        state.Busy = true;
        _reserving.Add(key);
        _ = ReserveAsync(state, hello, nickname, key);
    }

    private async Task ReserveAsync(ConnectionState state, HelloMessage hello, string nickname, string key)
    {
        var cluster = Cluster!;
        var secret = NewSession();
        NicknameReservation? reservation = null;
        string? failure = null;
        try
        {
            reservation = await cluster.TryReserveNicknameAsync(key, nickname, secret, CancellationToken.None).ConfigureAwait(false);
            if (reservation is null && hello.Session is { Length: > 0 } session)
            {
                // Held elsewhere: a client coming back with its session takes it over from its old broker.
                var takeover = await cluster.TryTakeOverNicknameAsync(key, nickname, session, CancellationToken.None).ConfigureAwait(false);
                if (takeover is not null)
                {
                    reservation = takeover.Reservation;
                    secret = session;
                }
            }
        }
        catch (Exception exception) when (exception is not OutOfMemoryException)
        {
            Log.ClusterAppendFailed(_logger, exception, "reservation");
            failure = ClusterUnavailableText;
        }

        lock (_gate)
        {
            _reserving.Remove(key);
            if (state.Phase != ConnectionPhase.AwaitingHello)
            {
                // Gone (closed, timed out) while its nickname was being reserved.
                if (reservation is not null)
                {
                    ReleaseReservation(reservation);
                }

                return;
            }

            if (reservation is null)
            {
                Refuse(state, failure ?? $"nickname '{nickname}' is already in use", DisconnectReason.HandshakeRefused);
                return;
            }

            state.Reservation = reservation;
            state.Session = secret;
            try
            {
                CompleteHandshake(state, hello, nickname, key);
            }
            catch (Exception exception) when (exception is not OutOfMemoryException)
            {
                Log.HubFault(_logger, exception, state.Id);
                Close(state, DisconnectReason.TransportError, flush: false);
            }

            Resume(state);
        }
    }

    private void OnReservationLost(NicknameReservation lost)
    {
        lock (_gate)
        {
            if (_online.TryGetValue(lost.NicknameKey, out var state) && state.Reservation is { } held && held.Revision == lost.Revision)
            {
                // Taken over by a session on another broker (or reaped while this broker was cut off).
                state.Reservation = null;
                SendError(state, "connection replaced");
                Close(state, DisconnectReason.Replaced, flush: true);
            }
        }
    }

    // Another broker died: its members leave every room they were in, announced by whichever broker
    // reaps it first (the deduplication id keeps one user_left per room).
    private async Task AnnounceLeftAsync(NicknameReservation reservation, CancellationToken cancellationToken)
    {
        List<(string RoomKey, byte[] Payload)> leaves = [];
        lock (_gate)
        {
            var prefix = reservation.BrokerId + "/";
            foreach (var room in _rooms.Values)
            {
                if (room.Roster.TryGetValue(reservation.NicknameKey, out var entry) && entry.Member.StartsWith(prefix, StringComparison.Ordinal))
                {
                    leaves.Add((ClusterRoomKey(room.Name), ClusterPresencePayload.Encode(room.Name, entry.Nickname, entry.Member, joined: false)));
                }
            }
        }

        foreach (var (roomKey, payload) in leaves)
        {
            await Cluster!.AppendAsync(roomKey, RoomEventKind.Presence, reservation.NicknameKey, payload, $"{reservation.ReleaseId}:{roomKey}", cancellationToken).ConfigureAwait(false);
        }
    }

    private void OnClusterState(ClusterConnectionState clusterState)
    {
        lock (_gate)
        {
            var down = clusterState == ClusterConnectionState.Disconnected;
            if (down == _clusterDown || _stopping)
            {
                return;
            }

            _clusterDown = down;
            Log.ClusterState(_logger, clusterState.ToString());
            if (down)
            {
                // Everybody stays connected, and knows that nothing is getting through meanwhile.
                foreach (var state in _online.Values)
                {
                    SendError(state, ClusterUnavailableText);
                }
            }
        }
    }

    // ---- direct messages ----

    private void ClusterDirect(ConnectionState state, DirectMessage direct)
    {
        var name = direct.To.Trim();
        if (NicknameRules.Check(name, out _) is not null)
        {
            SendError(state, $"no such user '{Shorten(direct.To)}'");
            return;
        }

        if (!Admit(state))
        {
            return;
        }

        state.Busy = true;
        _ = SendDirectAsync(state, NicknameRules.Key(name), direct);
    }

    private async Task SendDirectAsync(ConnectionState state, string recipientKey, DirectMessage direct)
    {
        var cluster = Cluster!;
        string? error = null;
        DirectDeliveryMessage? sent = null;
        byte[]? sentFrame = null;
        var deliveredHere = false;
        try
        {
            var id = await cluster.NextDirectIdAsync(CancellationToken.None).ConfigureAwait(false);
            lock (_gate)
            {
                if (_online.TryGetValue(recipientKey, out var local) && state.Phase == ConnectionPhase.Joined)
                {
                    // On this broker: delivered here, under the same rules as a broker of its own.
                    error = DeliverDirect(state, local, direct.Text, id, _scheduler.Now);
                    deliveredHere = true;
                }
            }

            if (!deliveredHere)
            {
                var holder = await cluster.FindNicknameAsync(recipientKey, CancellationToken.None).ConfigureAwait(false);
                if (holder is null)
                {
                    error = $"no such user '{Shorten(direct.To)}'";
                }
                else
                {
                    sent = new DirectDeliveryMessage(state.Nickname!, holder.Nickname, direct.Text) { Id = id, Time = DateTimeOffset.UtcNow };
                    sentFrame = MessageEncoder.Encode(sent);
                    error = await cluster.SendDirectAsync(holder.BrokerId, recipientKey, sentFrame, CancellationToken.None).ConfigureAwait(false) switch
                    {
                        DirectDelivery.Delivered => null,
                        DirectDelivery.NoSuchUser => $"no such user '{Shorten(direct.To)}'",
                        DirectDelivery.NotAccepted => $"'{holder.Nickname}' cannot receive direct messages",
                        _ => cluster.IsConnected ? $"message not delivered: the broker of '{holder.Nickname}' did not answer" : ClusterUnavailableText,
                    };
                }
            }
        }
        catch (Exception exception) when (exception is not OutOfMemoryException)
        {
            Log.ClusterAppendFailed(_logger, exception, "direct");
            error = ClusterUnavailableText;
        }

        lock (_gate)
        {
            if (state.Phase == ConnectionPhase.Joined)
            {
                if (error is not null)
                {
                    SendError(state, error);
                }
                else if (sent is not null)
                {
                    // The sender's copy, once the recipient's broker has it (the meta form is the bytes sent).
                    var frame = state.Has(Grants.Meta) ? sentFrame! : MessageEncoder.Encode(sent with { Id = null, Time = null });
                    Metrics.MessagesOut.Add(state.Deliver(frame) ? 1 : 0);
                    Metrics.DirectMessages.Add(1);
                    Publish(new DirectMessageEvent(state.Id, state.Nickname!, sent.To, direct.Text));
                }
            }

            Resume(state);
        }
    }

    // Another broker's client sent one of ours a direct message: the payload is its meta form.
    private DirectDelivery DeliverFromCluster(IncomingDirect incoming)
    {
        var message = MessageDecoder.TryDecodeServerMessage(incoming.Payload.Span, out var decoded, out _) ? decoded as DirectDeliveryMessage : null;
        lock (_gate)
        {
            if (message is null || !_online.TryGetValue(incoming.RecipientKey, out var recipient))
            {
                return DirectDelivery.NoSuchUser;
            }

            if (!recipient.Has(Grants.Direct))
            {
                return DirectDelivery.NotAccepted;
            }

            var frame = recipient.Has(Grants.Meta) ? incoming.Payload.ToArray() : MessageEncoder.Encode(message with { Id = null, Time = null });
            Metrics.MessagesOut.Add(recipient.Deliver(frame) ? 1 : 0);
            return DirectDelivery.Delivered;
        }
    }

    // ---- a connection's messages waiting behind a request to the cluster ----

    private void Defer(ConnectionState state, ClientMessage message)
    {
        var deferred = state.Deferred ??= new Queue<ClientMessage>();
        if (deferred.Count >= MaxDeferredMessages)
        {
            Refuse(state, $"too many messages waiting for the cluster (at most {MaxDeferredMessages})", DisconnectReason.SlowConsumer);
            return;
        }

        deferred.Enqueue(message);
    }

    private void Resume(ConnectionState state)
    {
        state.Busy = false;
        while (!state.Busy && state.Phase != ConnectionPhase.Closed && state.Deferred is { Count: > 0 } deferred)
        {
            var message = deferred.Dequeue();
            try
            {
                Handle(state, message);
            }
            catch (Exception exception) when (exception is not OutOfMemoryException)
            {
                Log.HubFault(_logger, exception, state.Id);
                Close(state, DisconnectReason.TransportError, flush: false);
            }
        }
    }

    private enum ClusterAppendKind
    {
        Chat,
        Presence,
        Release,
        // A member's join appended again, unchanged, before the cluster ages it out.
        Refresh,
    }

    private sealed record ClusterAppend(
        ClusterAppendKind Kind,
        string RoomKey,
        string? MemberKey,
        byte[] Payload,
        string? DeduplicationId,
        ConnectionState? Sender,
        string? JoiningRoom)
    {
        public NicknameReservation? Reservation { get; init; }

        public ClusterChat? Chat { get; init; }

        public string? RoomName { get; init; }
    }
}

/// <summary>Chats of one room as a broker appends them to the cluster in one event (the ids and time are the cluster's).</summary>
internal sealed record ClusterChatBatch(string Room, List<ClusterChat> Chats);

/// <summary>One chat of a batch.</summary>
internal sealed record ClusterChat(string Nickname, string Member, string Text);

/// <summary>A join or leave as brokers append it to the cluster.</summary>
internal sealed record ClusterPresencePayload(string Room, string Nickname, string Member, bool Joined)
{
    /// <summary>The payload as every broker appends it.</summary>
    public static byte[] Encode(string room, string nickname, string member, bool joined) =>
        JsonSerializer.SerializeToUtf8Bytes(new ClusterPresencePayload(room, nickname, member, joined), ClusterJsonContext.Default.ClusterPresencePayload);
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(ClusterChatBatch))]
[JsonSerializable(typeof(ClusterPresencePayload))]
internal sealed partial class ClusterJsonContext : JsonSerializerContext;
