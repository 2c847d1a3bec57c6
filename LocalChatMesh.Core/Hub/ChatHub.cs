using System.Globalization;
using System.Reactive.Concurrency;
using System.Reactive.Disposables;
using System.Reactive.Linq;
using System.Reactive.Subjects;
using System.Text;
using LocalChatMesh.Diagnostics;
using LocalChatMesh.Hub.Rooms;
using LocalChatMesh.Protocol;
using Microsoft.Extensions.Logging;

namespace LocalChatMesh.Hub;

/// <summary>
/// The heart of the broker, free of sockets: it merges every connection's inbound stream and
/// handles one input at a time under one lock. It keeps the nickname reservations and the rooms;
/// each room is an ordered, bounded log whose Subject pushes encoded frames to its live members
/// (see <see cref="Room"/>). Every time rule runs on <see cref="BrokerOptions.Scheduler"/>, so
/// tests use virtual time. This file holds the connection's life (handshake, close, flow
/// control); ChatHub.Rooms.cs what a joined client can do.
/// </summary>
internal sealed partial class ChatHub : IDisposable
{
    private const string ShuttingDownText = "broker shutting down";

    private readonly Lock _gate = new();
    private readonly BrokerOptions _options;
    private readonly IScheduler _scheduler;
    private readonly ILogger _logger;
    private readonly Subject<BrokerEvent> _events = new();
    private readonly Dictionary<long, ConnectionState> _connections = [];

    // Handshaken connections by nickname key, in handshake order: the nickname reservations.
    private readonly OrderedDictionary<string, ConnectionState> _online = new(StringComparer.Ordinal);
    private readonly CompositeDisposable _subscriptions = [];
    private readonly SharedSecret? _secret;
    private readonly Grants _offered;

    // One delegate for every connection's handshake timer (a method group makes one per call).
    private readonly Func<IScheduler, ConnectionState, IDisposable> _handshakeTimedOut;
    private bool _stopping;
    private bool _disposed;

    public ChatHub(BrokerOptions options)
    {
        _options = options;
        Metrics = new BrokerMetrics(CountConnections, CountQueuedBytes, CountRooms, CountHistoryBytes);
        _scheduler = options.Scheduler;
        _logger = options.LoggerFactory.CreateLogger("LocalChatMesh.Broker");
        _secret = options.Token is null ? null : new SharedSecret(options.Token);
        _offered = ParseGrants(options.Capabilities);
        _handshakeTimedOut = OnHandshakeTimeout;
    }

    /// <summary>The broker's instruments; the transport adds its byte counts here.</summary>
    public BrokerMetrics Metrics { get; }

    /// <summary>Broker events, published under the hub's lock: observers should be quick.</summary>
    public IObservable<BrokerEvent> Events => _events.AsObservable();

    /// <summary>The nicknames online, in handshake order.</summary>
    public IReadOnlyList<string> Participants
    {
        get
        {
            lock (_gate)
            {
                return [.. _online.Values.Select(state => state.Nickname!)];
            }
        }
    }

    /// <summary>Starts handling every connection that <paramref name="connections"/> produces.</summary>
    public void Run(IObservable<IHubConnection> connections)
    {
        _subscriptions.Add(_scheduler.SchedulePeriodic(_options.SlowConsumerCheckInterval, CheckSlowConsumers));
        _subscriptions.Add(connections.Subscribe(connection => Attach(new ConnectionState(connection, _options.OutboundHardLimitBytes, Metrics))));
    }

    /// <summary>
    /// Stops the chat: every connection is told <c>broker shutting down</c> and closed once its
    /// queue is sent; connections that arrive from now on are told the same.
    /// </summary>
    public void Shutdown()
    {
        lock (_gate)
        {
            _stopping = true;
            Log.ShuttingDown(_logger, _connections.Count);
            var notice = MessageEncoder.Encode(new ErrorMessage(ShuttingDownText));
            foreach (var state in _connections.Values.ToList())
            {
                // Sent even to a lagging client: it is the last thing it will hear.
                state.Outbound.Enqueue(notice);
                Publish(new ClientErrorEvent(state.Id, ShuttingDownText));
                Close(state, DisconnectReason.Shutdown, flush: true, tellOthers: false);
            }
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _disposed = true;
            _subscriptions.Dispose();
            _events.OnCompleted();
            _events.Dispose();
            foreach (var room in _rooms.Values)
            {
                room.Live.Dispose();
            }

            Metrics.Dispose();
        }
    }

    private long CountConnections()
    {
        lock (_gate)
        {
            return _connections.Count;
        }
    }

    private long CountQueuedBytes()
    {
        lock (_gate)
        {
            return _connections.Values.Sum(state => state.Outbound.BufferedBytes);
        }
    }

    private static Grants ParseGrants(IEnumerable<string> capabilities)
    {
        var grants = Grants.None;
        foreach (var capability in capabilities)
        {
            grants |= capability switch
            {
                ChatCapabilities.Rooms => Grants.Rooms,
                ChatCapabilities.Direct => Grants.Direct,
                ChatCapabilities.History => Grants.History,
                ChatCapabilities.Meta => Grants.Meta,
                _ => Grants.None,
            };
        }

        return grants;
    }

    private static IReadOnlyList<string> Names(Grants grants) =>
        [.. ChatCapabilities.All.Where(name => (ParseGrants([name]) & grants) != 0)];

    // Each connection's inputs in order: opened, its messages, then completed or failed. One plain
    // observer per connection hands them to Process under _gate; an Rx chain (Select, Append,
    // Catch, StartWith, merged by SelectMany and Synchronize) did the same with ~1.1 KB of
    // objects per connection and a second lock per message (BENCHMARKS.md, "Memory at rest and
    // per connection"). The inbound subscription lasts as long as the inbound; once the hub is
    // disposed, inputs are ignored.
    private void Attach(ConnectionState state)
    {
        var input = new ConnectionInput(this, state);
        Deliver(new HubInput(state, HubInputKind.Opened, null, null));
        state.Connection.Inbound.Subscribe(input);
    }

    private void Deliver(HubInput input)
    {
        lock (_gate)
        {
            if (!_disposed)
            {
                Process(input);
            }
        }
    }

    private sealed class ConnectionInput(ChatHub hub, ConnectionState state) : IObserver<ClientMessage>
    {
        public void OnNext(ClientMessage value) => hub.Deliver(new HubInput(state, HubInputKind.Message, value, null));

        public void OnCompleted() => hub.Deliver(new HubInput(state, HubInputKind.Completed, null, null));

        public void OnError(Exception error) => hub.Deliver(new HubInput(state, HubInputKind.Failed, null, error));
    }

    // Runs under _gate, one input at a time. An exception here must not end the Rx pipeline
    // (that would stop the whole broker), so it closes only the connection concerned.
    private void Process(HubInput input)
    {
        var state = input.State;
        try
        {
            switch (input.Kind)
            {
                case HubInputKind.Opened:
                    Open(state);
                    break;
                case HubInputKind.Message when state.Phase != ConnectionPhase.Closed:
                    Metrics.MessagesIn.Add(1);
                    if (state.Busy)
                    {
                        Defer(state, input.Message!);
                    }
                    else
                    {
                        Handle(state, input.Message!);
                    }

                    break;
                case HubInputKind.Completed:
                    Close(state, DisconnectReason.ClientClosed, flush: true);
                    break;
                case HubInputKind.Failed when input.Error is LineTooLongException tooLong:
                    Refuse(state, tooLong.Message, DisconnectReason.LineTooLong);
                    break;
                case HubInputKind.Failed:
                    Log.TransportEnded(_logger, input.Error!, state.Id);
                    Close(state, DisconnectReason.TransportError, flush: false);
                    break;
            }
        }
        catch (Exception exception) when (exception is not OutOfMemoryException)
        {
            Log.HubFault(_logger, exception, state.Id);
            Close(state, DisconnectReason.TransportError, flush: false);
        }
    }

    private void Open(ConnectionState state)
    {
        _connections.Add(state.Id, state);
        Metrics.Accepted.Add(1);
        Publish(new ClientConnectedEvent(state.Id, state.Connection.RemoteEndPoint));
        if (_stopping)
        {
            Refuse(state, ShuttingDownText, DisconnectReason.Shutdown);
        }
        else if (_connections.Count > _options.MaxClients)
        {
            Refuse(state, "server is full", DisconnectReason.ServerFull);
        }
        else
        {
            state.HandshakeTimer = _scheduler.Schedule(state, _options.HandshakeTimeout, _handshakeTimedOut);
        }
    }

    private IDisposable OnHandshakeTimeout(IScheduler scheduler, ConnectionState state)
    {
        lock (_gate)
        {
            if (state.Phase == ConnectionPhase.AwaitingHello)
            {
                var seconds = _options.HandshakeTimeout.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture);
                Refuse(state, $"handshake timed out: no hello within {seconds} s", DisconnectReason.HandshakeTimeout);
            }
        }

        return Disposable.Empty;
    }

    private void Handle(ConnectionState state, ClientMessage message)
    {
        if (state.Phase != ConnectionPhase.Joined)
        {
            switch (message)
            {
                case HelloMessage hello:
                    Handshake(state, hello);
                    break;
                case UnreadableLine unreadable:
                    Refuse(state, unreadable.Problem, DisconnectReason.HandshakeRefused);
                    break;
                default:
                    Refuse(state, "expected a hello message first", DisconnectReason.HandshakeRefused);
                    break;
            }

            return;
        }

        switch (message)
        {
            case HelloMessage:
                SendError(state, "already connected");
                break;
            case UnreadableLine unreadable:
                // A version 1 client hears about version 2 types exactly as it always has.
                SendError(state, unreadable.Type is { } type && !Understands(state, type) ? MessageDecoder.UnknownTypeError(type) : unreadable.Problem);
                break;
            case MistypedField mistyped when state.Has(Grants.Rooms):
                SendError(state, mistyped.Problem);
                break;
            case MistypedField mistyped:
                Handle(state, mistyped.Lenient);
                break;
            case ChatMessage chat:
                Chat(state, chat);
                break;
            case JoinMessage join when state.Has(Grants.Rooms):
                JoinRoom(state, join);
                break;
            case LeaveMessage leave when state.Has(Grants.Rooms):
                LeaveRoom(state, leave.Room);
                break;
            case WhoMessage who when state.Has(Grants.Rooms):
                Who(state, who.Room);
                break;
            case ListRoomsMessage when state.Has(Grants.Rooms):
                ListRooms(state);
                break;
            case DirectMessage direct when state.Has(Grants.Direct):
                Direct(state, direct);
                break;
            default:
                SendError(state, MessageDecoder.UnknownTypeError(TypeName(message)));
                break;
        }
    }

    private static bool Understands(ConnectionState state, string type) => type switch
    {
        "join" or "leave" or "who" or "rooms" => state.Has(Grants.Rooms),
        "direct" => state.Has(Grants.Direct),
        _ => true,
    };

    private static string TypeName(ClientMessage message) => message switch
    {
        JoinMessage => "join",
        LeaveMessage => "leave",
        WhoMessage => "who",
        ListRoomsMessage => "rooms",
        DirectMessage => "direct",
        _ => message.GetType().Name,
    };

    // One serialized step: the nickname reservation, the welcome and, for a client without rooms,
    // the lobby join (roster, user_joined, subscription), so nothing is missed or seen twice.
    private void Handshake(ConnectionState state, HelloMessage hello)
    {
        // The secret is checked first, so an outsider learns nothing about the nicknames in use.
        if (_secret is not null && !_secret.Matches(hello.Token))
        {
            Refuse(state, "authentication failed", DisconnectReason.AuthenticationFailed);
            return;
        }

        var refusal = NicknameRules.Check(hello.Nickname, out var nickname);
        var key = refusal is null ? NicknameRules.Key(nickname) : null;
        if (key is not null && _online.TryGetValue(key, out var holder))
        {
            if (hello.Session is { } session && holder.Session is { } held && SessionMatches(session, held))
            {
                // The old connection has not been noticed as dead yet: this one takes over at once
                // (in a cluster with the reservation it held).
                state.Reservation = holder.Reservation;
                holder.Reservation = null;
                SendError(holder, "connection replaced");
                Close(holder, DisconnectReason.Replaced, flush: true);
                state.Session = held;
            }
            else
            {
                refusal = $"nickname '{nickname}' is already in use";
            }
        }
        else if (key is not null && _reserving.Contains(key))
        {
            refusal = $"nickname '{nickname}' is already in use";
        }

        if (refusal is not null)
        {
            Refuse(state, refusal, DisconnectReason.HandshakeRefused);
            return;
        }

        if (Cluster is not null && state.Reservation is null)
        {
            // The nickname must be free on every broker: the reservation is made off the lock.
            BeginClusterHandshake(state, hello, nickname, key!);
            return;
        }

        CompleteHandshake(state, hello, nickname, key!);
    }

    private void CompleteHandshake(ConnectionState state, HelloMessage hello, string nickname, string key)
    {
        // Let go of the cancelled timer too: a joined connection holds nothing of its handshake.
        state.HandshakeTimer?.Dispose();
        state.HandshakeTimer = null;
        state.Phase = ConnectionPhase.Joined;
        state.Nickname = nickname;
        state.NicknameKey = key;
        state.LastProgressAt = _scheduler.Now;
        if (_options.MaxMessagesPerSecond is { } rate)
        {
            state.RateLimiter = new RateLimiter(rate, _scheduler.Now);
        }

        state.MemberId = Cluster is null ? "" : $"{Cluster.BrokerId}/{state.Id}";
        _online.Add(key, state);
        Metrics.Joined.Add(1);
        Log.Joined(_logger, state.Id, nickname);
        if (hello.Capabilities is { } asked)
        {
            var grants = ParseGrants(asked) & _offered;
            if ((grants & (Grants.Rooms | Grants.Meta)) != (Grants.Rooms | Grants.Meta))
            {
                // History needs rooms and meta: asked without them it is simply not granted.
                grants &= ~Grants.History;
            }

            state.IsVersion2 = true;
            state.Grants = grants;
            state.Form = (WireForm)((state.Has(Grants.Rooms) ? 2 : 0) | (state.Has(Grants.Meta) ? 1 : 0));
            state.Session ??= NewSession();
            state.Send(new WelcomeMessage(nickname) { Capabilities = Names(grants), Session = state.Session, MaxLineLength = _options.MaxLineLength });
        }
        else
        {
            state.Send(new WelcomeMessage(nickname));
        }

        Publish(new ClientJoinedEvent(state.Id, nickname));
        if (!state.Has(Grants.Rooms))
        {
            // Version 1 (and a client without rooms) lives in the lobby from its welcome on.
            EnterLobbyAtWelcome(state);
        }
    }

    private static bool SessionMatches(string candidate, string held) =>
        ConstantTime.Matches(Encoding.UTF8.GetBytes(candidate), Encoding.UTF8.GetBytes(held));

    // 144 random bits, URL-safe: opaque to the client. OsRandom, not RandomNumberGenerator: no OpenSSL.
    private static string NewSession() => Convert.ToBase64String(OsRandom.GetBytes(18)).Replace('+', '-').Replace('/', '_');

    private void SendError(ConnectionState state, string text)
    {
        state.Send(new ErrorMessage(text));
        Log.ErrorSent(_logger, state.Id, text);
        Publish(new ClientErrorEvent(state.Id, text));
    }

    private void Refuse(ConnectionState state, string text, DisconnectReason reason)
    {
        if (state.Phase == ConnectionPhase.Closed)
        {
            return;
        }

        SendError(state, text);
        Close(state, reason, flush: true);
    }

    private void Close(ConnectionState state, DisconnectReason reason, bool flush, bool tellOthers = true)
    {
        if (state.Phase == ConnectionPhase.Closed)
        {
            return;
        }

        var wasJoined = state.Phase == ConnectionPhase.Joined;
        state.Phase = ConnectionPhase.Closed;
        state.HandshakeTimer?.Dispose();
        state.HandshakeTimer = null;
        _connections.Remove(state.Id);
        if (wasJoined)
        {
            foreach (var membership in state.Rooms.Values.ToList())
            {
                RemoveFromRoom(membership, tellOthers);
            }

            _online.Remove(state.NicknameKey!);
            if (state.Reservation is { } reservation)
            {
                state.Reservation = null;
                ReleaseReservation(reservation);
            }
        }

        if (flush)
        {
            state.Outbound.Close();
        }
        else
        {
            state.Outbound.Abort();
        }

        Metrics.Disconnects.Add(1, BrokerMetrics.Reason(reason));
        if (!wasJoined && reason is DisconnectReason.HandshakeRefused or DisconnectReason.AuthenticationFailed
                or DisconnectReason.HandshakeTimeout or DisconnectReason.ServerFull)
        {
            Metrics.Refused.Add(1, BrokerMetrics.Reason(reason));
        }

        Log.Closed(_logger, state.Id, state.Nickname, reason);
        Publish(new ClientDisconnectedEvent(state.Id, wasJoined ? state.Nickname : null, reason));
    }

    // The slow-consumer rules, checked periodically on the hub's clock:
    // - above the soft limit, a client holds the senders back; after the lag grace it lags
    //   instead (its messages are dropped and counted) and the senders resume;
    // - a lagging client that has sent out its whole backlog is told how much it missed;
    // - a client with a backlog that makes no progress for the disconnect grace is closed.
    // The same tick moves the cursors of members replaying history and trims history by age.
    private void CheckSlowConsumers()
    {
        lock (_gate)
        {
            if (_stopping)
            {
                return;
            }

            var now = _scheduler.Now;
            TrimHistory(now);
            if (Cluster is not null)
            {
                RefreshClusterPresence(now);
            }

            List<ConnectionState>? stuck = null;
            foreach (var state in _online.Values)
            {
                PumpCatchingUp(state);
                var outbound = state.Outbound;
                outbound.ReleaseIdleMemory();
                var buffered = outbound.BufferedBytes;
                var flushed = outbound.FlushedBytes;
                if (flushed != state.LastFlushedBytes || buffered == 0)
                {
                    state.LastFlushedBytes = flushed;
                    state.LastProgressAt = now;
                }

                if (state.Lagging)
                {
                    if (buffered == 0)
                    {
                        CatchUp(state);
                    }
                }
                else if (buffered > _options.OutboundSoftLimitBytes)
                {
                    state.AboveSoftLimitSince ??= now;
                    if (now - state.AboveSoftLimitSince.Value >= _options.LagGrace)
                    {
                        state.Lagging = true;
                        outbound.HoldsBackSenders = false;
                    }
                }
                else
                {
                    state.AboveSoftLimitSince = null;
                    if (state.Dropped > 0 && buffered == 0)
                    {
                        // A replay that the log outran: the gap is reported like any lag.
                        CatchUp(state);
                    }
                }

                if (state.Lagging && !state.LagReported)
                {
                    state.LagReported = true;
                    Log.Lagging(_logger, state.Id, state.Nickname);
                    Publish(new ClientLaggingEvent(state.Id, state.Nickname!));
                }

                if (buffered > 0 && now - state.LastProgressAt >= _options.DisconnectGrace)
                {
                    (stuck ??= []).Add(state);
                }
            }

            foreach (var state in stuck ?? [])
            {
                Close(state, DisconnectReason.SlowConsumer, flush: false);
            }
        }
    }

    private void CatchUp(ConnectionState state)
    {
        Log.CaughtUp(_logger, state.Id, state.Nickname, state.Dropped);
        Metrics.LagWarnings.Add(1);
        SendError(state, $"you are behind by {state.Dropped} messages; consider reconnecting");
        state.Lagging = false;
        state.LagReported = false;
        state.Dropped = 0;
        state.AboveSoftLimitSince = null;
        state.Outbound.HoldsBackSenders = true;
    }

    private void Publish(BrokerEvent brokerEvent)
    {
        try
        {
            _events.OnNext(brokerEvent);
        }
        catch (Exception exception) when (exception is not OutOfMemoryException)
        {
            Log.ObserverFault(_logger, exception);
        }
    }

    private enum HubInputKind
    {
        Opened,
        Message,
        Completed,
        Failed,
    }

    private readonly record struct HubInput(ConnectionState State, HubInputKind Kind, ClientMessage? Message, Exception? Error);
}
