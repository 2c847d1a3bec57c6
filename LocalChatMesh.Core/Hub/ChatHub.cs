using System.Globalization;
using System.Reactive.Concurrency;
using System.Reactive.Disposables;
using System.Reactive.Linq;
using System.Reactive.Subjects;
using LocalChatMesh.Diagnostics;
using LocalChatMesh.Protocol;
using Microsoft.Extensions.Logging;

namespace LocalChatMesh.Hub;

/// <summary>
/// The heart of the broker, free of sockets: it merges every connection's inbound stream,
/// handles one input at a time under one lock, keeps the nicknames and the roster, and
/// broadcasts encoded frames through a Subject to which every joined connection is subscribed.
/// Every time rule runs on <see cref="BrokerOptions.Scheduler"/>, so tests use virtual time.
/// </summary>
internal sealed class ChatHub : IDisposable
{
    private const string ShuttingDownText = "broker shutting down";

    private readonly object _gate = new();
    private readonly BrokerOptions _options;
    private readonly IScheduler _scheduler;
    private readonly ILogger _logger;
    private readonly BroadcastSubject<byte[]> _broadcast = new();
    private readonly Subject<BrokerEvent> _events = new();
    private readonly Dictionary<long, ConnectionState> _connections = [];

    // Joined connections by nickname key, in join order: the roster a joiner receives.
    private readonly OrderedDictionary<string, ConnectionState> _joined = new(StringComparer.Ordinal);
    private readonly CompositeDisposable _subscriptions = [];
    private readonly SharedSecret? _secret;
    private bool _stopping;

    public ChatHub(BrokerOptions options)
    {
        _options = options;
        Metrics = new BrokerMetrics(CountConnections, CountQueuedBytes);
        _scheduler = options.Scheduler;
        _logger = options.LoggerFactory.CreateLogger("LocalChatMesh.Broker");
        _secret = options.Token is null ? null : new SharedSecret(options.Token);
    }

    /// <summary>The broker's instruments; the transport adds its byte counts here.</summary>
    public BrokerMetrics Metrics { get; }

    /// <summary>Broker events, published under the hub's lock: observers should be quick.</summary>
    public IObservable<BrokerEvent> Events => _events.AsObservable();

    /// <summary>The nicknames online, in join order.</summary>
    public IReadOnlyList<string> Participants
    {
        get
        {
            lock (_gate)
            {
                return [.. new RosterView(_joined)];
            }
        }
    }

    /// <summary>Starts handling every connection that <paramref name="connections"/> produces.</summary>
    public void Run(IObservable<IHubConnection> connections)
    {
        _subscriptions.Add(_scheduler.SchedulePeriodic(_options.SlowConsumerCheckInterval, CheckSlowConsumers));
        _subscriptions.Add(connections
            .SelectMany(connection => Inputs(new ConnectionState(connection, _options.OutboundHardLimitBytes, Metrics)))
            .Synchronize(_gate)
            .Subscribe(Process));
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
            _subscriptions.Dispose();
            _events.OnCompleted();
            _events.Dispose();
            _broadcast.Dispose();
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

    private static IObservable<HubInput> Inputs(ConnectionState state) =>
        state.Connection.Inbound
            .Select(message => new HubInput(state, HubInputKind.Message, message, null))
            .Append(new HubInput(state, HubInputKind.Completed, null, null))
            .Catch((Exception error) => Observable.Return(new HubInput(state, HubInputKind.Failed, null, error)))
            .StartWith(new HubInput(state, HubInputKind.Opened, null, null));

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
                    Handle(state, input.Message!);
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
            state.HandshakeTimer = _scheduler.Schedule(state, _options.HandshakeTimeout, OnHandshakeTimeout);
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
        var joined = state.Phase == ConnectionPhase.Joined;
        switch (message)
        {
            case UnreadableLine unreadable when joined:
                SendError(state, unreadable.Problem);
                break;
            case UnreadableLine unreadable:
                Refuse(state, unreadable.Problem, DisconnectReason.HandshakeRefused);
                break;
            case HelloMessage when joined:
                SendError(state, "already connected");
                break;
            case HelloMessage hello:
                Join(state, hello);
                break;
            case ChatMessage chat when joined:
                Chat(state, chat.Text);
                break;
            default:
                Refuse(state, "expected a hello message first", DisconnectReason.HandshakeRefused);
                break;
        }
    }

    // One serialized step: the roster snapshot, the user_joined broadcast and the subscription
    // to later broadcasts, so the joiner misses nothing and sees nothing twice.
    private void Join(ConnectionState state, HelloMessage hello)
    {
        // The secret is checked first, so an outsider learns nothing about the nicknames in use.
        if (_secret is not null && !_secret.Matches(hello.Token))
        {
            Refuse(state, "authentication failed", DisconnectReason.AuthenticationFailed);
            return;
        }

        var refusal = NicknameRules.Check(hello.Nickname, out var nickname);
        var key = refusal is null ? NicknameRules.Key(nickname) : null;
        if (key is not null && _joined.ContainsKey(key))
        {
            refusal = $"nickname '{nickname}' is already in use";
        }

        if (refusal is not null)
        {
            Refuse(state, refusal, DisconnectReason.HandshakeRefused);
            return;
        }

        state.HandshakeTimer?.Dispose();
        state.Phase = ConnectionPhase.Joined;
        state.Nickname = nickname;
        state.NicknameKey = key;
        state.LastProgressAt = _scheduler.Now;
        if (_options.MaxMessagesPerSecond is { } rate)
        {
            state.RateLimiter = new RateLimiter(rate, _scheduler.Now);
        }

        state.Send(new WelcomeMessage(nickname));
        if (_joined.Count > 0)
        {
            state.Send(new RosterMessage(new RosterView(_joined)));
        }

        Broadcast(new UserJoinedMessage(nickname));
        _joined.Add(key!, state);
        state.BroadcastSubscription = _broadcast.Subscribe(state);
        Metrics.Joined.Add(1);
        Log.Joined(_logger, state.Id, nickname);
        Publish(new ClientJoinedEvent(state.Id, nickname));
    }

    private void Chat(ConnectionState state, string text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return;
        }

        if (state.RateLimiter is { } limiter && !limiter.TryTake(_scheduler.Now))
        {
            // One notice per run of refused messages, so a flood cannot fill its own queue with notices.
            if (!state.RateNoticeSent)
            {
                state.RateNoticeSent = true;
                var rate = _options.MaxMessagesPerSecond!.Value.ToString("0.##", CultureInfo.InvariantCulture);
                SendError(state, $"rate limit exceeded: at most {rate} messages per second; messages are dropped until you slow down");
            }

            return;
        }

        state.RateNoticeSent = false;
        Broadcast(new ChatBroadcastMessage(state.Nickname!, text));
        Publish(new ChatEvent(state.Id, state.Nickname!, text));
    }

    /// <summary>Encodes once; the Subject hands the same array to every joined connection.</summary>
    private void Broadcast(ServerMessage message)
    {
        var frame = MessageEncoder.Encode(message);
        var droppedBefore = Metrics.DroppedSoFar;
        _broadcast.OnNext(frame);

        // Delivered means queued: what a lagging client missed is counted as dropped instead.
        Metrics.MessagesOut.Add(_broadcast.Count - (Metrics.DroppedSoFar - droppedBefore));
    }

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
        state.BroadcastSubscription?.Dispose();
        _connections.Remove(state.Id);
        if (wasJoined)
        {
            _joined.Remove(state.NicknameKey!);
            if (tellOthers)
            {
                Broadcast(new UserLeftMessage(state.Nickname!));
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
    private void CheckSlowConsumers()
    {
        lock (_gate)
        {
            if (_stopping)
            {
                return;
            }

            var now = _scheduler.Now;
            List<ConnectionState>? stuck = null;
            foreach (var state in _joined.Values)
            {
                var outbound = state.Outbound;
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

    // The joined nicknames as a list, read in place while the roster is encoded: a join storm
    // would otherwise copy the roster once more per joiner.
    private sealed class RosterView(OrderedDictionary<string, ConnectionState> joined) : IReadOnlyList<string>
    {
        public int Count => joined.Count;

        public string this[int index] => joined.GetAt(index).Value.Nickname!;

        public IEnumerator<string> GetEnumerator()
        {
            foreach (var state in joined.Values)
            {
                yield return state.Nickname!;
            }
        }

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
    }

    private readonly record struct HubInput(ConnectionState State, HubInputKind Kind, ClientMessage? Message, Exception? Error);
}
