using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Reactive.Subjects;
using LocalChatMesh.Diagnostics;
using LocalChatMesh.Hub;
using LocalChatMesh.Transport;
using Microsoft.Extensions.Logging;

namespace LocalChatMesh;

/// <summary>
/// A running chat broker: it accepts TCP connections and runs the protocol among them.
/// Start one with <see cref="StartAsync"/>; stop it with <see cref="StopAsync"/> or by disposing it.
/// </summary>
/// <example>
/// <code>
/// await using var broker = await ChatBroker.StartAsync(BrokerOptions.Default with { EndPoint = new(IPAddress.Loopback, 0) });
/// Console.WriteLine($"listening on {broker.LocalEndPoint}");
/// </code>
/// </example>
public sealed class ChatBroker : IAsyncDisposable
{
    private readonly BrokerOptions _options;
    private readonly Socket _listener;
    private readonly ILogger _logger;
    private static readonly TimeSpan ClusterLeaveTimeout = TimeSpan.FromSeconds(5);

    private readonly ChatHub _hub;
    private readonly BackpressureGate _gate = new();

    // Like Kestrel's IOQueues, but one per two cores: a broadcast wakes every scheduler, and
    // on the 2-core box one scheduler cost less CPU per delivery than two at the same latency
    // (0.76-0.79 against 0.83-0.85 s per million, BENCHMARKS.md) while readers keep the other core.
    // With inline completions the event thread makes the writes after its batch (SendScheduler).
    private readonly SendScheduler[] _schedulers;
    private readonly Subject<IHubConnection> _accepted = new();
    private readonly ConcurrentDictionary<long, TcpConnection> _live = new();
    private readonly CancellationTokenSource _stopAccepting = new();
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);

    // TLS only: handshakes in progress (bounded by MaxClients), and the lock that keeps their
    // hand-overs to the hub one at a time (a Subject's OnNext must not run concurrently).
    private readonly TlsAcceptor? _tls;
    private readonly ConcurrentDictionary<long, Task> _tlsHandshakes = new();
    private readonly object _admitLock = new();
    private bool _admitClosed;
    private Task _acceptLoop = Task.CompletedTask;
    private readonly Action<TcpConnection> _connectionEnded;
    private long _lastConnectionId;
    private int _stopRequested;

    private ChatBroker(BrokerOptions options, Socket listener)
    {
        _options = options;
        _listener = listener;
        _logger = options.LoggerFactory.CreateLogger("LocalChatMesh.Broker");
        _connectionEnded = OnConnectionEnded;
        _hub = new ChatHub(options);
        _hub.StorePressure += pressing =>
        {
            if (pressing)
            {
                _gate.Press();
            }
            else
            {
                _gate.Release();
            }
        };
        LocalEndPoint = (IPEndPoint)listener.LocalEndPoint!;
        _tls = options.Tls is { } tls ? CreateTlsAcceptor(tls) : null;
        var inline = SendScheduler.CompletionsInline;
        _schedulers = [.. Enumerable.Range(0, Math.Clamp(Environment.ProcessorCount / 2, 1, 16)).Select(_ => new SendScheduler(writeAfterEngineBatch: inline))];
    }

    /// <summary>The address the broker listens on, with the real port when port 0 was asked for.</summary>
    public IPEndPoint LocalEndPoint { get; }

    /// <summary>
    /// What happens in the broker: connections, joins, chats, errors sent, lag and disconnects
    /// with their reasons. Observers run on the broker's serialized step and hold it up while they
    /// run: keep them short, or hand off with ObserveOn. Completes when the broker has stopped.
    /// </summary>
    public IObservable<BrokerEvent> Events => _hub.Events;

    /// <summary>The nicknames online now, in join order.</summary>
    public IReadOnlyList<string> Participants => _hub.Participants;

    /// <summary>The rooms that exist now (somebody in them, or history), by name, with how many are in each.</summary>
    public IReadOnlyList<Protocol.RoomSummary> Rooms => _hub.Rooms;

    /// <summary>This broker's Meter, for tests that listen to its instruments alone.</summary>
    internal System.Diagnostics.Metrics.Meter Meter => _hub.Metrics.Meter;

    /// <summary>True while the broker accepts connections: started, and no stop asked for.</summary>
    internal bool IsAccepting => Volatile.Read(ref _stopRequested) == 0 && !_acceptLoop.IsCompleted;

    /// <summary>Has each untagged counter of <see cref="Meter"/> report 0, for a listener that just started.</summary>
    internal void AnnounceCounters() => _hub.Metrics.AnnounceCounters();

    /// <summary>Connections open now, joined or not.</summary>
    internal int ConnectionCount => _live.Count;

    /// <summary>Completes when the broker has stopped.</summary>
    public Task Completion => _stopped.Task;

    /// <summary>
    /// Opens the store (when <see cref="BrokerOptions.Store"/> is set) and restores its history,
    /// binds the listening socket and starts accepting connections.
    /// </summary>
    /// <exception cref="ArgumentException">An option is out of range.</exception>
    /// <exception cref="Storage.ChatStoreException">The store cannot be opened (corrupt, locked, newer, unwritable); it is disposed.</exception>
    /// <exception cref="SocketException">The address cannot be bound (in use, not local).</exception>
    /// <exception cref="LocalChatMesh.Cluster.ClusterUnavailableException">The cluster cannot be reached.</exception>
    public static async Task<ChatBroker> StartAsync(BrokerOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= BrokerOptions.Default;
        options.Validate();
        cancellationToken.ThrowIfCancellationRequested();

        Storage.ChatStoreSnapshot? snapshot = null;
        if (options.Store is { } store)
        {
            try
            {
                snapshot = await store.OpenAsync(
                    new Storage.ChatStoreRetention(Math.Max(1, options.HistoryMessagesPerRoom), options.HistoryMaxAge),
                    cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                await store.DisposeAsync().ConfigureAwait(false);
                throw;
            }
        }

        var listener = new Socket(options.EndPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            listener.Bind(options.EndPoint);
            listener.Listen(1024);
        }
        catch
        {
            listener.Dispose();
            if (options.Store is { } opened)
            {
                await opened.DisposeAsync().ConfigureAwait(false);
            }

            throw;
        }

        var broker = new ChatBroker(options, listener);
        if (options.Cluster is not null)
        {
            try
            {
                await broker._hub.JoinClusterAsync(cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                listener.Dispose();
                await broker._hub.LeaveClusterAsync(TimeSpan.FromSeconds(1)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                broker._hub.Dispose();
                throw;
            }
        }

        if (snapshot is not null)
        {
            broker._hub.Restore(snapshot);
            Log.Restored(broker._logger, snapshot.Messages.Count, broker._hub.Rooms.Count, snapshot.Epoch);
        }

        broker.Start();
        return broker;
    }

    /// <summary>
    /// Shuts down gracefully: stops accepting, tells every client <c>broker shutting down</c>,
    /// gives queued messages until <see cref="BrokerOptions.DrainTimeout"/> to go out, then closes
    /// every connection. Safe to call more than once.
    /// </summary>
    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref _stopRequested, 1) == 1)
        {
            await _stopped.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
            return;
        }

        await _stopAccepting.CancelAsync().ConfigureAwait(false);
        _listener.Dispose();
        await _acceptLoop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);

        // TLS handshakes still in progress end at once (their token is the accept loop's); one
        // that had just finished is handed over, and the hub tells it that it is shutting down.
        await Task.WhenAll(_tlsHandshakes.Values).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        lock (_admitLock)
        {
            _admitClosed = true;
        }

        _hub.Shutdown();

        // The last connection to end completes the wait on its own reader's thread, which can be
        // the socket engine's event thread (inline completions, as the CLI broker runs): yield, so
        // the rest of the stop and the caller's continuation never run on, or block, that thread.
        var draining = Task.WhenAll(_live.Values.Select(connection => connection.Completion));
        try
        {
            await draining.WaitAsync(_options.DrainTimeout, cancellationToken).ConfigureAwait(ConfigureAwaitOptions.ForceYielding);
        }
        catch (Exception exception) when (exception is TimeoutException or OperationCanceledException)
        {
            Log.DrainTimedOut(_logger, _live.Count);
            foreach (var connection in _live.Values)
            {
                connection.Abort();
            }

            await Task.WhenAll(_live.Values.Select(connection => connection.Completion)).ConfigureAwait(ConfigureAwaitOptions.ForceYielding);
        }

        // In a cluster the others learn that this broker's clients left, and their nicknames are free.
        await _hub.LeaveClusterAsync(ClusterLeaveTimeout).ConfigureAwait(false);

        // Chats accepted before the stop are committed (nobody receives them now) before the store closes.
        await _hub.WhenStoredAsync().ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        if (_options.Store is { } store)
        {
            await store.DisposeAsync().ConfigureAwait(false);
        }

        _accepted.OnCompleted();
        foreach (var scheduler in _schedulers)
        {
            scheduler.Dispose();
        }

        _hub.Dispose();
        _accepted.Dispose();
        _stopAccepting.Dispose();
        _stopped.TrySetResult();
    }

    /// <summary>Stops the broker as <see cref="StopAsync"/> does.</summary>
    public async ValueTask DisposeAsync() => await StopAsync().ConfigureAwait(false);

    private void Start()
    {
        _hub.Run(_accepted);
        Log.Listening(_logger, LocalEndPoint);
        if (!IPAddress.IsLoopback(LocalEndPoint.Address))
        {
            Log.ListeningBeyondLoopback(_logger, LocalEndPoint);
        }

        _acceptLoop = Task.Run(AcceptLoopAsync);
    }

    private async Task AcceptLoopAsync()
    {
        var token = _stopAccepting.Token;
        while (!token.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptAsync(token).ConfigureAwait(false);
            }
            catch (Exception exception) when (exception is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            catch (SocketException exception)
            {
                // Out of file descriptors and the like: wait a little rather than spin.
                Log.AcceptFault(_logger, exception);
                await Task.Delay(TimeSpan.FromMilliseconds(50), token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                continue;
            }

            socket.NoDelay = true;
            var id = ++_lastConnectionId;
            if (_tls is not null)
            {
                StartTlsHandshake(id, socket, token);
                continue;
            }

            Admit(id, socket, tls: null);
        }
    }

    // Plain TCP: from the accept loop. TLS: once the handshake is done, from any thread. Stream,
    // not SslStream, so that a broker without TLS never loads System.Net.Security.
    private void Admit(long id, Socket socket, Stream? tls)
    {
        TcpConnection connection;
        lock (_admitLock)
        {
            if (_admitClosed)
            {
                tls?.Dispose();
                socket.Dispose();
                return;
            }

            connection = new TcpConnection(id, socket, tls, _schedulers[id % _schedulers.Length], _gate, _options, _hub.Metrics, _connectionEnded);
            if (tls is null)
            {
                Log.Accepted(_logger, connection.Id, connection.RemoteEndPoint);
            }

            _live[connection.Id] = connection;
            _accepted.OnNext(connection);
        }

        connection.Start();
    }

    // One delegate for every connection (a continuation per connection cost ~0.2 KB each).
    private void OnConnectionEnded(TcpConnection connection) => _live.TryRemove(connection.Id, out _);

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static TlsAcceptor CreateTlsAcceptor(BrokerTlsOptions tls) => new(tls);

    private void StartTlsHandshake(long id, Socket socket, CancellationToken stopping)
    {
        var remote = socket.RemoteEndPoint;
        Log.Accepted(_logger, id, remote);

        // Connections still in their TLS handshake are not the hub's yet: they are bounded here,
        // by the same number, so a flood of silent connections cannot pile up without limit.
        if (_tlsHandshakes.Count >= _options.MaxClients)
        {
            Log.TlsRefused(_logger, id, remote, "too many TLS handshakes in progress");
            socket.Dispose();
            return;
        }

        var handshake = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _tlsHandshakes[id] = handshake.Task;
        _ = Task.Run(async () =>
        {
            try
            {
                await HandshakeAsync(id, socket, remote, stopping).ConfigureAwait(false);
            }
            finally
            {
                _tlsHandshakes.TryRemove(id, out _);
                handshake.TrySetResult();
            }
        }, CancellationToken.None);
    }

    private async Task HandshakeAsync(long id, Socket socket, EndPoint? remote, CancellationToken stopping)
    {
        SslStream tls;
        using (var deadline = CancellationTokenSource.CreateLinkedTokenSource(stopping))
        {
            deadline.CancelAfter(_options.HandshakeTimeout);
            try
            {
                tls = await _tls!.AuthenticateAsync(socket, deadline.Token).ConfigureAwait(false);
            }
            catch (Exception exception) when (exception is not OutOfMemoryException)
            {
                var reason = exception switch
                {
                    TlsRefusedException => exception.Message,
                    OperationCanceledException when stopping.IsCancellationRequested => "the broker is stopping",
                    OperationCanceledException => $"no TLS handshake within {_options.HandshakeTimeout.TotalSeconds.ToString("0.###", System.Globalization.CultureInfo.InvariantCulture)} s",
                    _ => exception.Message.ReplaceLineEndings(" "),
                };
                Log.TlsRefused(_logger, id, remote, reason);
                socket.Dispose();
                return;
            }
        }

        if (_logger.IsEnabled(LogLevel.Debug))
        {
            Log.TlsEstablished(_logger, id, tls.SslProtocol.ToString(), tls.NegotiatedCipherSuite.ToString());
        }

        Admit(id, socket, tls);
    }
}
