using System.Globalization;
using LocalChatMesh.Hub.Rooms;
using LocalChatMesh.Protocol;

namespace LocalChatMesh.Hub;

/// <summary>What a handshaken client can do: rooms, chats, direct messages, and the rooms' history.</summary>
internal sealed partial class ChatHub
{
    private const int MaxEchoedLength = 40;

    private readonly Dictionary<string, Room> _rooms = new(RoomNames.Comparer);

    // Every retained chat of every room, oldest first (ids are global, so this is also id order):
    // the global history limits and the age limit trim from its front. Chats the rooms already
    // let go stay here until they reach the front or the queue is compacted.
    private readonly Queue<RetainedChat> _history = new();
    // Without a store, history dies with the process: a new epoch each start. A store keeps its own.
    // It only has to differ between starts, so a random Guid serves; a cryptographic generator
    // here would map OpenSSL into every idle broker (about 5 MB of RSS) before any client asks.
    private string _epoch = Guid.NewGuid().ToString("N");
    private long _historyBytes;
    private int _retainedChats;
    private long _lastId;

    /// <summary>The rooms that exist, by name.</summary>
    public IReadOnlyList<RoomSummary> Rooms
    {
        get
        {
            lock (_gate)
            {
                return RoomSummaries();
            }
        }
    }

    private long CountRooms()
    {
        lock (_gate)
        {
            return _rooms.Count;
        }
    }

    private long CountHistoryBytes()
    {
        lock (_gate)
        {
            return _historyBytes;
        }
    }

    private List<RoomSummary> RoomSummaries() =>
        [.. _rooms.Values.OrderBy(room => room.Name, StringComparer.OrdinalIgnoreCase).ThenBy(room => room.Name, StringComparer.Ordinal).Select(room => room.Summary())];

    private static string Shorten(string value) =>
        value.Length <= MaxEchoedLength ? value : string.Concat(value.AsSpan(0, MaxEchoedLength), "…");

    /// <summary>The room, created if it does not exist yet; null when the broker has its maximum of rooms.</summary>
    private Room? GetOrCreateRoom(string name)
    {
        // The lobby is where version 1 clients live: it can always be made.
        if (!_rooms.ContainsKey(name) && _rooms.Count >= _options.MaxRooms && !RoomNames.Comparer.Equals(name, Room.Lobby))
        {
            return null;
        }

        return GetOrAddRoom(name);
    }

    /// <summary>The room, created if need be whatever the limit (what the cluster ordered exists everywhere).</summary>
    private Room GetOrAddRoom(string name)
    {
        if (!_rooms.TryGetValue(name, out var room))
        {
            room = new Room(name);
            _rooms.Add(name, room);
        }

        return room;
    }

    // A version 1 client (or one without rooms) joins the lobby as part of its handshake:
    // the v1 roster (others only, nothing when alone), user_joined to the others, then live.
    private void EnterLobbyAtWelcome(ConnectionState state)
    {
        var room = GetOrCreateRoom(Room.Lobby)!;
        if (Cluster is not null)
        {
            BeginClusterJoin(state, room, join: null);
            return;
        }

        CompleteLobbyEntry(state, room, membership: null, silent: false);
    }

    private void CompleteLobbyEntry(ConnectionState state, Room room, Membership? membership, bool silent)
    {
        var others = room.Nicknames(exceptKey: state.NicknameKey);
        if (others.Count > 0)
        {
            state.Send(new RosterMessage(others));
        }

        Enter(state, room, from: null, replayAfterId: 0, membership, silent);
    }

    private void JoinRoom(ConnectionState state, JoinMessage join)
    {
        if (!RoomNames.IsValid(join.Room, _options.MaxRoomNameLength))
        {
            SendError(state, RoomNames.Invalid);
            return;
        }

        if (state.Rooms.TryGetValue(join.Room, out var existing))
        {
            SendError(state, $"already in room '{existing.Room.Name}'");
            return;
        }

        if (state.Rooms.Count >= _options.MaxRoomsPerClient)
        {
            SendError(state, "too many rooms");
            return;
        }

        if (GetOrCreateRoom(join.Room) is not { } room)
        {
            SendError(state, "too many rooms on this broker");
            return;
        }

        if (Cluster is not null)
        {
            BeginClusterJoin(state, room, join);
            return;
        }

        CompleteJoin(state, room, join, membership: null, silent: false);
    }

    private void CompleteJoin(ConnectionState state, Room room, JoinMessage join, Membership? membership, bool silent)
    {
        // One serialized step: the joined snapshot, the replay's start, the user_joined the
        // others see and the live subscription, so nothing is lost or seen twice.
        var log = room.Log;
        long? from = null;
        long replayAfterId = 0;
        bool? recovered = null;
        if (state.Has(Grants.History))
        {
            if (join.After is { } after)
            {
                recovered = string.Equals(join.Epoch, _epoch, StringComparison.Ordinal) && after >= log.LastDroppedId && after <= log.LastId;
                if (recovered == true)
                {
                    from = log.PositionAfterId(after);
                    replayAfterId = after;
                }
            }

            if (from is null && join.History is > 0 and var count)
            {
                from = log.PositionOfLastChats(count);
            }
        }

        state.Send(new JoinedMessage(room.Name, room.Nicknames(exceptKey: state.NicknameKey))
        {
            Epoch = state.Has(Grants.History) ? _epoch : null,
            LastId = state.Has(Grants.History) ? log.LastId : null,
            Recovered = recovered,
        });
        Enter(state, room, from, replayAfterId, membership, silent);
    }

    // The others see user_joined (unless silent: the same person taking over a membership), then the member
    // starts reading. In a cluster the membership already exists (pending) and the roster already has it.
    private void Enter(ConnectionState state, Room room, long? from, long replayAfterId, Membership? membership = null, bool silent = false)
    {
        var nickname = state.Nickname!;
        if (!silent)
        {
            AppendPresence(room, nickname, joined: true);
        }

        if (membership is null)
        {
            membership = new Membership(state, room);
            state.Rooms.Add(room.Name, membership);
        }

        if (Cluster is null)
        {
            room.Roster.Add(state.NicknameKey!, new RosterEntry(nickname, ""));
        }

        room.Members[state.NicknameKey!] = membership;
        membership.Start(from ?? room.Log.NextPosition, replayAfterId);
        Metrics.MessagesOut.Add(membership.Pump(_options.OutboundSoftLimitBytes));
        Metrics.RoomJoins.Add(1);
        Publish(new RoomJoinedEvent(state.Id, nickname, room.Name));
    }

    private void LeaveRoom(ConnectionState state, string name)
    {
        if (FindMembership(state, name) is not { } membership)
        {
            return;
        }

        RemoveFromRoom(membership, tellOthers: true);
        state.Send(new LeftMessage(membership.Room.Name));
    }

    // The membership for a room named in a request, or null after telling the client why not.
    private Membership? FindMembership(ConnectionState state, string name)
    {
        if (!RoomNames.IsValid(name, _options.MaxRoomNameLength))
        {
            SendError(state, RoomNames.Invalid);
            return null;
        }

        if (state.Rooms.TryGetValue(name, out var membership))
        {
            return membership;
        }

        SendError(state, $"not in room '{name}'");
        return null;
    }

    private void RemoveFromRoom(Membership membership, bool tellOthers)
    {
        var state = membership.Connection;
        var room = membership.Room;
        membership.End();
        if (room.Members.TryGetValue(state.NicknameKey!, out var current) && current == membership)
        {
            room.Members.Remove(state.NicknameKey!);
        }

        state.Rooms.Remove(room.Name);
        if (membership.Pending is not null)
        {
            membership.Pending = null;
            room.PendingJoins--;
        }

        if (Cluster is not null)
        {
            // The others learn it in the cluster's order, whatever the reason (a broker stopping too).
            AppendClusterPresence(state, room, joined: false);
        }
        else
        {
            room.Roster.Remove(state.NicknameKey!);
            if (tellOthers)
            {
                AppendPresence(room, state.Nickname!, joined: false);
            }
        }

        Publish(new RoomLeftEvent(state.Id, state.Nickname!, room.Name));
        Trim(room);
        RemoveIfGone(room);
    }

    private void Who(ConnectionState state, string name)
    {
        if (FindMembership(state, name) is { } membership)
        {
            state.Send(new RosterMessage(membership.Room.Nicknames()) { Room = membership.Room.Name });
        }
    }

    private void ListRooms(ConnectionState state) => state.Send(new RoomListMessage(RoomSummaries()));

    private void Chat(ConnectionState state, ChatMessage chat)
    {
        var text = chat.Utf8Text;
        if (Utf8Text.IsBlank(text))
        {
            return;
        }

        Membership? membership;
        if (state.Has(Grants.Rooms))
        {
            membership = FindMembership(state, chat.Room ?? Room.Lobby);
            if (membership is null)
            {
                return;
            }
        }
        else if (!state.Rooms.TryGetValue(Room.Lobby, out membership))
        {
            return;
        }

        if (!Admit(state))
        {
            return;
        }

        var room = membership.Room;
        if (Cluster is not null)
        {
            AppendClusterChat(state, room, chat.Text);
            return;
        }

        if (_options.Store is not null)
        {
            Store(state, room, ++_lastId, chat.Text);
            return;
        }

        var id = ++_lastId;
        Append(room, id, _scheduler.Now, state.Nickname!, text);
        if (_events.HasObservers)
        {
            // One event object per chat is worth sparing when nobody listens (the CLI's broker).
            Publish(new ChatEvent(state.Id, state.Nickname!, chat.Text) { Room = room.Name, Id = id });
        }
    }

    private void Direct(ConnectionState state, DirectMessage direct)
    {
        if (string.IsNullOrWhiteSpace(direct.Text))
        {
            return;
        }

        if (Cluster is not null)
        {
            ClusterDirect(state, direct);
            return;
        }

        var name = direct.To.Trim();
        if (NicknameRules.Check(name, out _) is not null || !_online.TryGetValue(NicknameRules.Key(name), out var recipient))
        {
            SendError(state, $"no such user '{Shorten(direct.To)}'");
            return;
        }

        if (!recipient.Has(Grants.Direct))
        {
            SendError(state, $"'{recipient.Nickname}' cannot receive direct messages");
            return;
        }

        if (!Admit(state))
        {
            return;
        }

        DeliverDirect(state, recipient, direct.Text, ++_lastId, _scheduler.Now);
    }

    /// <summary>Queues a direct message for both ends (once for yourself); returns the error for the sender, or null.</summary>
    private string? DeliverDirect(ConnectionState state, ConnectionState recipient, string text, long id, DateTimeOffset time)
    {
        if (!recipient.Has(Grants.Direct))
        {
            return $"'{recipient.Nickname}' cannot receive direct messages";
        }

        // Encoded at most twice (with and without meta), whoever the two ends are.
        var plain = new DirectDeliveryMessage(state.Nickname!, recipient.Nickname!, text);
        var meta = plain with { Id = id, Time = time };
        byte[]? plainFrame = null;
        byte[]? metaFrame = null;
        byte[] FrameFor(ConnectionState end) => end.Has(Grants.Meta)
            ? metaFrame ??= MessageEncoder.Encode(meta)
            : plainFrame ??= MessageEncoder.Encode(plain);

        var queued = recipient.Deliver(FrameFor(recipient)) ? 1 : 0;
        if (recipient != state)
        {
            queued += state.Deliver(FrameFor(state)) ? 1 : 0;
        }

        Metrics.MessagesOut.Add(queued);
        Metrics.DirectMessages.Add(1);
        Publish(new DirectMessageEvent(state.Id, state.Nickname!, recipient.Nickname!, text));
        return null;
    }

    // The per-client rate limit, for chats and direct messages alike.
    private bool Admit(ConnectionState state)
    {
        if (state.RateLimiter is { } limiter && !limiter.TryTake(_scheduler.Now))
        {
            // One notice per run of refused messages, so a flood cannot fill its own queue with notices.
            if (!state.RateNoticeSent)
            {
                state.RateNoticeSent = true;
                var rate = _options.MaxMessagesPerSecond!.Value.ToString("0.##", CultureInfo.InvariantCulture);
                SendError(state, $"rate limit exceeded: at most {rate} messages per second; messages are dropped until you slow down");
            }

            return false;
        }

        state.RateNoticeSent = false;
        return true;
    }

    private void AppendPresence(Room room, string nickname, bool joined)
    {
        var entry = new PresenceEntry(room.Name, nickname, joined);

        // Presence is not history: the log holds it only while a member catching up must read it in order.
        if (room.CatchingUp > 0)
        {
            var before = room.Log.Bytes;
            room.Log.AppendPresence(entry);
            _historyBytes += room.Log.Bytes - before;
        }

        FanOut(room, entry);
        Trim(room);
    }

    /// <summary>Appends a chat to its room's log and pushes it to the live members, encoded once per variant.</summary>
    private void Append(Room room, long id, DateTimeOffset time, string nickname, ReadOnlySpan<byte> utf8Text)
    {
        var position = Retain(room, id, time, nickname, utf8Text);
        FanOut(room, new LoggedEntry(room.Log, position));
        Trim(room);
        TrimHistory(time);
    }

    /// <summary>Keeps a chat in its room's log and the history accounts; returns its position.</summary>
    private long Retain(Room room, long id, DateTimeOffset time, string nickname, ReadOnlySpan<byte> utf8Text)
    {
        var before = room.Log.Bytes;
        var position = room.Log.AppendChat(id, time, nickname, utf8Text);
        _historyBytes += room.Log.Bytes - before;
        _retainedChats++;
        _history.Enqueue(new RetainedChat(room, id, time.UtcTicks));
        return position;
    }

    private void FanOut<TFrames>(Room room, TFrames entry)
        where TFrames : IRoomFrames
    {
        var droppedBefore = Metrics.DroppedSoFar;
        room.Live.Publish(entry);

        // Delivered means queued: what a lagging client missed is counted as dropped instead.
        Metrics.MessagesOut.Add(room.Live.Count - (Metrics.DroppedSoFar - droppedBefore));
    }

    // A room's own history limits, and presence that nobody catching up needs any more.
    private void Trim(Room room)
    {
        var log = room.Log;
        while (log.ChatCount > _options.HistoryMessagesPerRoom || log.Bytes > _options.HistoryBytesPerRoom)
        {
            DropFront(room);
        }

        var oldestCursor = room.OldestCursor();
        while (log.FrontIsPresence && log.FirstPosition < oldestCursor)
        {
            DropFront(room);
        }

        // Nobody catching up any more: presence left behind retained chats goes too.
        if (room.CatchingUp == 0 && log.PresenceCount > 0)
        {
            _historyBytes -= log.ForgetPresence();
        }
    }

    // A room exists while somebody is in it or it has history.
    private void RemoveIfGone(Room room)
    {
        if (room.Exists)
        {
            return;
        }

        while (room.Log.Count > 0)
        {
            DropFront(room);
        }

        room.Live.Dispose();
        _rooms.Remove(room.Name);
    }

    private void DropFront(Room room)
    {
        var (chat, bytes) = room.Log.DropFront();
        _historyBytes -= bytes;
        if (chat)
        {
            _retainedChats--;
        }
    }

    // The global byte limit and the age limit, oldest chat anywhere first.
    private void TrimHistory(DateTimeOffset now)
    {
        while (_history.TryPeek(out var oldest))
        {
            if (!oldest.Retained)
            {
                _history.Dequeue();
                continue;
            }

            // Compared as a span: on virtual time "now" may be too close to the calendar's start to subtract from.
            if (_historyBytes <= _options.HistoryBytes && TimeSpan.FromTicks(now.UtcTicks - oldest.UtcTicks) <= _options.HistoryMaxAge)
            {
                break;
            }

            _history.Dequeue();
            var room = oldest.Room;
            while (oldest.Retained)
            {
                DropFront(room);
            }

            Trim(room);
            RemoveIfGone(room);
        }

        // Chats the rooms let go on their own wait here until they reach the front; compact before they pile up.
        if (_history.Count > 64 && _history.Count > 2 * _retainedChats)
        {
            var retained = _history.Where(chat => chat.Retained).ToList();
            _history.Clear();
            foreach (var chat in retained)
            {
                _history.Enqueue(chat);
            }
        }
    }

    // Members replaying history (or behind their room's log) read on as their queues drain.
    private void PumpCatchingUp(ConnectionState state)
    {
        // Most clients are live in all their rooms: nothing to look at.
        if (state.CatchingUp == 0)
        {
            return;
        }

        foreach (var membership in state.Rooms.Values)
        {
            if (membership.Cursor is not null)
            {
                Metrics.MessagesOut.Add(membership.Pump(_options.OutboundSoftLimitBytes));
                Trim(membership.Room);
            }
        }
    }
}
