using System.Collections.Concurrent;
using System.Diagnostics;
using System.Reactive.Linq;
using System.Reactive.Subjects;
using LocalChatMesh.Cluster.Nats.Internal;
using LocalChatMesh.Cluster;
using Microsoft.Extensions.Logging;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;
using NATS.Client.KeyValueStore;

namespace LocalChatMesh.Cluster.Nats;

/// <summary>
/// One broker's link to a cluster through NATS: the engine behind "append, read from a position, tell
/// me when it advances" when the log's order comes from JetStream instead of one broker's lock.
/// <list type="bullet">
/// <item>Rooms: every room event (chat or presence) is appended to one stream; its stream sequence is
/// its id, and <see cref="ReadAllAsync"/> gives every broker the same events in the same order.</item>
/// <item>Nicknames: a create-only bucket key per nickname makes reservations race-free; heartbeats and
/// a reaper free a dead broker's nicknames (see <see cref="StartReaping"/>).</item>
/// <item>Direct messages: request/reply to the recipient's broker (<see cref="SendDirectAsync"/>).</item>
/// <item>Connection: <see cref="ConnectionStates"/> says when NATS is lost and back.</item>
/// </list>
/// Thread-safe; dispose it to leave the cluster.
/// </summary>
public sealed partial class NatsClusterEngine : IChatCluster, IAsyncDisposable
{
    private static readonly TimeSpan RetryPause = TimeSpan.FromMilliseconds(100);

    private readonly NatsClusterOptions _options;
    private readonly ClusterNames _names;
    private readonly NatsConnection _connection;
    private readonly NatsJSContext _js;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private readonly BehaviorSubject<ClusterConnectionState> _states = new(ClusterConnectionState.Connected);
    private readonly Lock _stateGate = new();
    private readonly List<Task> _loops = [];
    private INatsJSStream _stream = null!;
    private INatsKVStore _nicknames = null!;
    private INatsKVStore _brokers = null!;
    private INatsKVStore _ids = null!;
    private long _appendCount;
    private long _connectedSince = Stopwatch.GetTimestamp();
    private int _disposed;

    private NatsClusterEngine(NatsClusterOptions options, NatsConnection connection)
    {
        _options = options;
        _names = new ClusterNames(options.ClusterName);
        _connection = connection;
        _js = new NatsJSContext(connection);
        _logger = options.LoggerFactory.CreateLogger("LocalChatMesh.Cluster");
        BrokerId = connection.Opts.Name;
    }

    /// <summary>This broker's id in the cluster: its name plus random bits, new for every engine (a restarted broker is a new broker).</summary>
    public string BrokerId { get; }

    /// <summary>
    /// The cluster's history epoch: changes only when the room stream is created anew (a NATS server
    /// with its storage wiped), so ids a client holds stay meaningful across any broker and restart.
    /// </summary>
    public string Epoch { get; private set; } = "";

    /// <inheritdoc />
    public TimeSpan EventMaxAge => _options.History.MaxAge;

    /// <summary>The options the engine runs with.</summary>
    public NatsClusterOptions Options => _options;

    /// <summary>Whether the NATS server is reachable now.</summary>
    public bool IsConnected => _states.Value == ClusterConnectionState.Connected;

    /// <summary>
    /// The connection's state: the current one on subscription, then every change (NATS lost, NATS back).
    /// Observers run on NATS's threads and should be quick.
    /// </summary>
    public IObservable<ClusterConnectionState> ConnectionStates => _states.DistinctUntilChanged();

    /// <summary>
    /// Connects to the NATS server and joins the cluster: makes sure the room stream and both buckets
    /// exist (with this broker's history limits), and starts this broker's heartbeat.
    /// </summary>
    /// <exception cref="ClusterUnavailableException">The NATS server cannot be reached, or has no JetStream.</exception>
    /// <exception cref="ArgumentException">An option is out of range (the message names it).</exception>
    public static async Task<NatsClusterEngine> ConnectAsync(NatsClusterOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var natsOptions = NatsOpts.Default with
        {
            Url = options.Url,
            Name = ClusterNames.NewBrokerId(options.BrokerName),
            ConnectTimeout = options.ConnectTimeout,
            RequestTimeout = options.RequestTimeout,
            CommandTimeout = options.RequestTimeout,
            LoggerFactory = options.LoggerFactory,
            AuthOpts = NatsAuthOpts.Default with { CredsFile = options.CredentialsFile, Token = options.Token },
            TlsOpts = options.TlsCaFile is null && options.TlsCertificateFile is null
                ? NatsTlsOpts.Default
                : NatsTlsOpts.Default with { Mode = TlsMode.Require, CaFile = options.TlsCaFile, CertFile = options.TlsCertificateFile, KeyFile = options.TlsKeyFile },

            // A broker outlives any NATS outage: it keeps trying, quickly at first.
            MaxReconnectRetry = -1,
            ReconnectWaitMin = TimeSpan.FromMilliseconds(100),
            ReconnectWaitMax = TimeSpan.FromSeconds(1),
            ReconnectJitter = TimeSpan.FromMilliseconds(100),
        };

        var connection = new NatsConnection(natsOptions);
        var engine = new NatsClusterEngine(options, connection);
        try
        {
            await engine.StartAsync(cancellationToken).ConfigureAwait(false);
            return engine;
        }
        catch
        {
            await engine.DisposeCoreAsync(leave: false).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Appends an event to a room and returns its stream sequence once JetStream has stored it: from
    /// then on every broker's <see cref="ReadAllAsync"/> yields it, in the same place of the room's order.
    /// </summary>
    /// <param name="roomKey">The room's key (names compared ignoring case map to one key).</param>
    /// <param name="kind">Chat (history) or presence.</param>
    /// <param name="payload">The event as the brokers encode it; the engine does not read it.</param>
    /// <param name="deduplicationId">
    /// Appends with the same id within two minutes are stored once (the second returns the first's
    /// sequence). Null gives the append a unique id, so a retry after a lost acknowledgement is not stored twice.
    /// </param>
    /// <param name="cancellationToken">Stops waiting; the event may still be appended.</param>
    /// <exception cref="ClusterUnavailableException">
    /// Not acknowledged within <see cref="NatsClusterOptions.RequestTimeout"/>: the event is not known to be
    /// appended (it may still be, if only the acknowledgement was lost).
    /// </exception>
    public Task<long> AppendAsync(string roomKey, RoomEventKind kind, ReadOnlyMemory<byte> payload, string? deduplicationId = null, CancellationToken cancellationToken = default) =>
        AppendAsync(roomKey, kind, memberKey: null, payload, deduplicationId, cancellationToken);

    // Every append, with or without a member's presence subject.

    /// <summary>
    /// As <see cref="AppendAsync(string, RoomEventKind, ReadOnlyMemory{byte}, string?, CancellationToken)"/>; a presence
    /// event with a <paramref name="memberKey"/> goes to that member's own presence subject, so the per-subject
    /// limit keeps each member's latest presence however busy the room (a starting broker rebuilds the rosters from it).
    /// </summary>
    Task<long> IChatCluster.AppendAsync(string roomKey, RoomEventKind kind, string? memberKey, ReadOnlyMemory<byte> payload, string? deduplicationId, CancellationToken cancellationToken) =>
        AppendAsync(roomKey, kind, memberKey, payload, deduplicationId, cancellationToken);

    private async Task<long> AppendAsync(string roomKey, RoomEventKind kind, string? memberKey, ReadOnlyMemory<byte> payload, string? deduplicationId, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(roomKey);
        var subject = _names.RoomSubject(roomKey, kind, memberKey);
        var messageId = deduplicationId ?? $"{BrokerId}:{Interlocked.Increment(ref _appendCount)}";
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(_options.RequestTimeout);
        Exception? last = null;
        while (true)
        {
            try
            {
                // The same message id on every try: JetStream keeps one copy however many tries reach it.
                var ack = await _js.PublishAsync(subject, payload, opts: new NatsJSPubOpts { MsgId = messageId, RetryAttempts = 1 }, cancellationToken: deadline.Token).ConfigureAwait(false);
                if (!ack.Duplicate)
                {
                    ack.EnsureSuccess();
                }

                // A duplicate's acknowledgement carries the sequence of the copy stored first.
                return (long)ack.Seq;
            }
            catch (NatsJSDuplicateMessageException duplicate)
            {
                return (long)duplicate.Sequence;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                throw;
            }
            catch (Exception exception) when (IsTransient(exception) && !deadline.IsCancellationRequested)
            {
                last = exception;
            }
            catch (Exception exception) when (IsTransient(exception))
            {
                throw Unavailable($"cluster unavailable: room event not appended within {_options.RequestTimeout.TotalSeconds:0.#} s", exception);
            }

            try
            {
                await Task.Delay(RetryPause, deadline.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw Unavailable($"cluster unavailable: room event not appended within {_options.RequestTimeout.TotalSeconds:0.#} s", last);
            }
        }
    }

    /// <summary>
    /// Every room's events after <paramref name="afterSequence"/>, in stream order, then live as they
    /// are appended, until cancelled: one of these per broker mirrors the cluster into the broker's
    /// room logs. Across a NATS outage it waits and resumes after the last event it yielded, so nothing
    /// is skipped or yielded twice. From 0 it starts at the oldest event the stream still holds.
    /// </summary>
    /// <param name="afterSequence">The last sequence already seen (0 for none).</param>
    /// <param name="cancellationToken">Ends the enumeration.</param>
    public async IAsyncEnumerable<ClusterRoomEvent> ReadAllAsync(long afterSequence, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(afterSequence);
        var last = afterSequence;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            IAsyncEnumerator<INatsJSMsg<byte[]>>? messages = null;
            try
            {
                var consumer = await _js.CreateOrderedConsumerAsync(_names.Stream, AllFrom(last), cancellationToken).ConfigureAwait(false);
                messages = consumer.ConsumeAsync<byte[]>(cancellationToken: cancellationToken).GetAsyncEnumerator(cancellationToken);
            }
            catch (Exception exception) when (IsTransient(exception) && !cancellationToken.IsCancellationRequested)
            {
                Log.ConsumerRestart(_logger, exception, last);
                await Task.Delay(RetryPause, cancellationToken).ConfigureAwait(false);
                continue;
            }

            await using (messages.ConfigureAwait(false))
            {
                while (true)
                {
                    bool more;
                    try
                    {
                        more = await messages.MoveNextAsync().ConfigureAwait(false);
                    }
                    catch (Exception exception) when (IsTransient(exception) && !cancellationToken.IsCancellationRequested)
                    {
                        Log.ConsumerRestart(_logger, exception, last);
                        break;
                    }

                    if (!more)
                    {
                        break;
                    }

                    if (ToEvent(messages.Current) is { } roomEvent && roomEvent.Sequence > last)
                    {
                        last = roomEvent.Sequence;
                        yield return roomEvent;
                    }
                }
            }

            await Task.Delay(RetryPause, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>The sequence of the newest room event stored now (0 for none).</summary>
    /// <exception cref="ClusterUnavailableException">NATS cannot be reached.</exception>
    public async Task<long> GetLastSequenceAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            deadline.CancelAfter(_options.RequestTimeout);
            var stream = await _js.GetStreamAsync(_names.Stream, cancellationToken: deadline.Token).ConfigureAwait(false);
            // Everything may have aged out (a cluster idle for longer than its history age): then no
            // event is stored now, and a starting broker that waited to read up to the last sequence
            // would wait for the next event before it served anybody.
            return stream.Info.State.Messages == 0 ? 0 : (long)stream.Info.State.LastSeq;
        }
        catch (Exception exception) when (IsTransient(exception) && !cancellationToken.IsCancellationRequested)
        {
            throw Unavailable("cluster unavailable: cannot read the room stream's state", exception);
        }
    }

    /// <summary>
    /// A new direct message id: the revision of a write to the <c>{cluster}-ids</c> bucket, which is
    /// unique and increasing in the cluster and survives NATS restarts (file storage).
    /// </summary>
    /// <exception cref="ClusterUnavailableException">NATS cannot be reached.</exception>
    public async Task<long> NextDirectIdAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            deadline.CancelAfter(_options.RequestTimeout);
            return (long)await _ids.PutAsync("direct", BrokerId, cancellationToken: deadline.Token).ConfigureAwait(false);
        }
        catch (Exception exception) when (IsTransient(exception) && !cancellationToken.IsCancellationRequested)
        {
            throw Unavailable("cluster unavailable: no id for a direct message", exception);
        }
    }

    /// <summary>The last <paramref name="count"/> chats the cluster holds for a room, oldest first (a join with history).</summary>
    /// <exception cref="ClusterUnavailableException">NATS cannot be reached.</exception>
    public async Task<IReadOnlyList<ClusterRoomEvent>> ReadLastChatsAsync(string roomKey, int count, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(roomKey);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        if (count == 0)
        {
            return [];
        }

        var tail = new Queue<ClusterRoomEvent>(Math.Min(count, 1024));
        await ReadChatsAsync(roomKey, 0, chat =>
        {
            if (tail.Count == count)
            {
                tail.Dequeue();
            }

            tail.Enqueue(chat);
        }, cancellationToken).ConfigureAwait(false);
        return [.. tail];
    }

    /// <summary>
    /// Every chat the cluster holds for a room after <paramref name="afterSequence"/>, oldest first (a
    /// client coming back with <c>after</c>), and whether that is everything. A room loses its chats
    /// oldest first, so when the chat at <paramref name="afterSequence"/> is still held, everything after it
    /// is; with 0, it is complete while the room has never reached its count limit and ages are unlimited.
    /// Otherwise <see cref="RoomHistoryRead.Complete"/> is false: some chats may be missing.
    /// </summary>
    /// <exception cref="ClusterUnavailableException">NATS cannot be reached.</exception>
    public async Task<RoomHistoryRead> ReadChatsAfterAsync(string roomKey, long afterSequence, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(roomKey);
        ArgumentOutOfRangeException.ThrowIfNegative(afterSequence);
        var chats = new List<ClusterRoomEvent>();
        await ReadChatsAsync(roomKey, afterSequence, chats.Add, cancellationToken).ConfigureAwait(false);
        var complete = await HoldsEverythingAfterAsync(roomKey, afterSequence, cancellationToken).ConfigureAwait(false);
        return new RoomHistoryRead(chats, complete);
    }

    /// <summary>
    /// Leaves the cluster cleanly: stops the heartbeat and removes it (so any reservation left behind is
    /// reaped at the next round), and closes the connection. Reservations are the broker's to release first.
    /// </summary>
    public ValueTask DisposeAsync() => DisposeCoreAsync(leave: true);

    /// <summary>Drops the connection as a crashed broker would: no goodbye, the heartbeat just stops.</summary>
    internal ValueTask AbandonAsync() => DisposeCoreAsync(leave: false);

    // No filter: the stream holds room subjects only. (NATS.Net sends an ordered consumer's filters as
    // filter_subjects, which nats-server 2.9 ignores; filtered reads use a plain consumer's filter_subject.)
    private static NatsJSOrderedConsumerOpts AllFrom(long afterSequence) => afterSequence == 0
        ? new NatsJSOrderedConsumerOpts { DeliverPolicy = ConsumerConfigDeliverPolicy.All }
        : new NatsJSOrderedConsumerOpts { DeliverPolicy = ConsumerConfigDeliverPolicy.ByStartSequence, OptStartSeq = (ulong)afterSequence + 1 };

    // Failures that a reconnect cures; everything else is a bug or a refusal and is thrown as it is.
    private static bool IsTransient(Exception exception) => exception is NatsException or TimeoutException or OperationCanceledException or IOException;

    private static ClusterUnavailableException Unavailable(string message, Exception? inner) =>
        inner is null ? new ClusterUnavailableException(message) : new ClusterUnavailableException($"{message} ({inner.Message})", inner);

    private ClusterRoomEvent? ToEvent(INatsJSMsg<byte[]> message)
    {
        if (message.Metadata is not { } metadata || !_names.TryParseRoomSubject(message.Subject, out var roomKey, out var kind))
        {
            return null;
        }

        return new ClusterRoomEvent((long)metadata.Sequence.Stream, roomKey, kind, metadata.Timestamp, message.Data ?? []);
    }

    private async Task StartAsync(CancellationToken cancellationToken)
    {
        try
        {
            await _connection.ConnectAsync().AsTask().WaitAsync(_options.ConnectTimeout + _options.RequestTimeout, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is NatsException or TimeoutException or IOException)
        {
            throw Unavailable($"cannot reach the NATS server at {_options.Url}", exception);
        }

        try
        {
            await _js.GetAccountInfoAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (NatsException exception)
        {
            throw Unavailable($"the NATS server at {_options.Url} has no JetStream (start it with -js)", exception);
        }

        var history = _options.History;
        var maxAge = history.MaxAge == Timeout.InfiniteTimeSpan ? TimeSpan.Zero : history.MaxAge;
        var config = new StreamConfig(_names.Stream, [_names.AllRooms])
        {
            Storage = StreamConfigStorage.File,
            Retention = StreamConfigRetention.Limits,
            Discard = StreamConfigDiscard.Old,
            MaxMsgsPerSubject = history.MaxMessagesPerRoom,
            MaxAge = maxAge,
            DuplicateWindow = maxAge == TimeSpan.Zero || maxAge > TimeSpan.FromMinutes(2) ? TimeSpan.FromMinutes(2) : maxAge,
            AllowDirect = true,
        };
        _stream = await _js.CreateOrUpdateStreamAsync(config, cancellationToken).ConfigureAwait(false);
        Epoch = _stream.Info.Created.UtcTicks.ToString("x", System.Globalization.CultureInfo.InvariantCulture);

        var kv = new NatsKVContext(_js);
        _nicknames = await kv.CreateOrUpdateStoreAsync(new NatsKVConfig(_names.NicknameBucket) { History = 1, Storage = NatsKVStorageType.File }, cancellationToken).ConfigureAwait(false);
        _ids = await kv.CreateOrUpdateStoreAsync(new NatsKVConfig(_names.IdBucket) { History = 1, Storage = NatsKVStorageType.File }, cancellationToken).ConfigureAwait(false);
        _brokers = await kv.CreateOrUpdateStoreAsync(new NatsKVConfig(_names.BrokerBucket) { History = 1, Storage = NatsKVStorageType.Memory, MaxAge = _options.HeartbeatTimeout }, cancellationToken).ConfigureAwait(false);

        _connection.ConnectionDisconnected += OnDisconnected;
        _connection.ConnectionOpened += OnReconnected;
        await RenewHeartbeatAsync(cancellationToken).ConfigureAwait(false);
        _loops.Add(HeartbeatLoopAsync(_stopping.Token));
        _loops.Add(ReaperLoopAsync(_stopping.Token));
        _loops.Add(ServeReplacedAsync(_stopping.Token));
        Log.Connected(_logger, BrokerId, _options.Url, _options.ClusterName);
    }

    private ValueTask OnDisconnected(object? sender, NatsEventArgs args)
    {
        SetState(ClusterConnectionState.Disconnected);
        return default;
    }

    private ValueTask OnReconnected(object? sender, NatsEventArgs args)
    {
        Interlocked.Exchange(ref _connectedSince, Stopwatch.GetTimestamp());
        SetState(ClusterConnectionState.Connected);
        _heartbeatNow.Release();
        return default;
    }

    private void SetState(ClusterConnectionState state)
    {
        lock (_stateGate)
        {
            if (_states.IsDisposed || _states.Value == state)
            {
                return;
            }

            if (state == ClusterConnectionState.Disconnected)
            {
                Log.ConnectionLost(_logger);
            }
            else
            {
                Log.ConnectionBack(_logger);
            }

            _states.OnNext(state);
        }
    }

    private async ValueTask DisposeCoreAsync(bool leave)
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        try
        {
            Task[] loops;
            lock (_loops)
            {
                loops = [.. _loops];
            }

            await Task.WhenAll(loops).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        if (leave && _brokers is not null && _connection.ConnectionState == NatsConnectionState.Open)
        {
            using var timeout = new CancellationTokenSource(_options.RequestTimeout);
            await _brokers.TryDeleteAsync(BrokerId, cancellationToken: timeout.Token).ConfigureAwait(false);
        }

        _connection.ConnectionDisconnected -= OnDisconnected;
        _connection.ConnectionOpened -= OnReconnected;
        await _connection.DisposeAsync().ConfigureAwait(false);
        lock (_stateGate)
        {
            _states.OnCompleted();
            _states.Dispose();
            _lost.OnCompleted();
            _lost.Dispose();
        }

        _stopping.Dispose();
        _heartbeatNow.Dispose();
    }
}
