using System.Net;
using System.Net.Sockets;
using System.Reactive.Linq;
using System.Reactive.Subjects;
using System.Reactive.Threading.Tasks;
using LocalChatMesh.Diagnostics;
using LocalChatMesh.Protocol;
using Microsoft.Extensions.Logging;

namespace LocalChatMesh;

// Coming back (ChatClientOptions.Reconnect). One task supervises the client's life: it reads a
// connection until it ends, then (with a policy) waits on the policy's scheduler, dials again with
// the session, reads the new connection and joins the rooms again through it with after/epoch.
// The rooms, streams and subscriptions of the app are the same objects throughout.
public sealed partial class ChatClient
{
    private readonly IReadOnlyList<IPEndPoint> _endPoints;
    private readonly Lock _connectionLock = new();
    private readonly CancellationTokenSource _stopReconnecting = new();
    private readonly BehaviorSubject<ChatConnectionStatus> _states;
    private readonly Lock _statesLock = new();
    private int _endPointIndex;
    private volatile string? _session;
    private int? _serverMaxLineLength;
    private volatile ChatConnectionStatus _status;

    // The connection can carry lines (the library's own rejoins), and the app's too.
    private volatile bool _linkUp = true;
    private volatile bool _usable = true;

    /// <summary>
    /// Each step of the connection, the current one first to a new subscriber:
    /// <see cref="ChatConnectionState.Connected"/> from the start; without
    /// <see cref="ChatClientOptions.Reconnect"/> then <see cref="ChatConnectionState.Closed"/> with why.
    /// With a policy, a lost connection goes <see cref="ChatConnectionState.Reconnecting"/> (attempt
    /// and delay), <see cref="ChatConnectionState.Connecting"/> when the attempt dials, and back to
    /// <see cref="ChatConnectionState.Connected"/> once every room is joined again and has published
    /// its <see cref="ChatRoom.Resumes"/> (or Reconnecting for the next attempt); <see cref="ChatConnectionState.Closed"/> ends it (disposed, a refused
    /// handshake, or <see cref="ChatReconnectPolicy.MaxAttempts"/> used up) and completes the stream.
    /// </summary>
    /// <remarks>
    /// Observers run on the client's own loop, one step at a time; one that throws is ignored.
    /// Subscribing does not start reading (see the class remarks): states move once messages are read.
    /// </remarks>
    public IObservable<ChatConnectionStatus> ConnectionStates { get; }

    /// <summary>The current step of <see cref="ConnectionStates"/>.</summary>
    public ChatConnectionState ConnectionState => _status.State;

    /// <summary>The current step of <see cref="ConnectionStates"/>, with its attempt, delay and reason.</summary>
    public ChatConnectionStatus ConnectionStatus => _status;

    private static int IndexOf(IReadOnlyList<IPEndPoint> endPoints, IPEndPoint endPoint)
    {
        for (var i = 0; i < endPoints.Count; i++)
        {
            if (endPoints[i].Equals(endPoint))
            {
                return i;
            }
        }

        return -1;
    }

    private async Task RunAsync()
    {
        await _start.Task.ConfigureAwait(false);
        var reading = ReadConnectionAsync(_connection);
        while (true)
        {
            var loss = await reading.ConfigureAwait(false);
            if (!loss.Retry || _options.Reconnect is not { } policy)
            {
                End(loss.Reason, loss.Failure, loss.Text);
                return;
            }

            ClientLog.Lost(_logger, _connection.EndPoint, loss.Text);
            if (await ReconnectAsync(policy, loss).ConfigureAwait(false) is not { } attempt)
            {
                return;
            }

            reading = ReadConnectionAsync(_connection);
            await RestoreAsync(attempt).ConfigureAwait(false);
        }
    }

    // Not after the broker handed the nickname to someone holding the session (they would take it
    // back in turn, forever), not after the app's own observer failed, not while disposing.
    private bool CanRetry(string? lastError) =>
        _options.Reconnect is not null && !_disposing && !string.Equals(lastError, "connection replaced", StringComparison.Ordinal);

    /// <summary>The connection can carry nothing more: fail what waits on it (its answer will not come).</summary>
    private void LinkDown(ClientConnection connection)
    {
        _usable = false;
        _linkUp = false;
        connection.Lost.Cancel();
        if (_options.Reconnect is not null && !_disposing)
        {
            Interlocked.Exchange(ref _pending, null)?.Fail(new ChatConnectionException($"the connection to {connection.EndPoint} was lost"));
            connection.Socket.Dispose();
        }
    }

    /// <summary>
    /// Waits and dials until a broker says <c>welcome</c>, then installs that connection and returns
    /// the attempt; null when the client is closed instead (refused, given up, disposed).
    /// </summary>
    private async Task<int?> ReconnectAsync(ChatReconnectPolicy policy, ConnectionLoss loss)
    {
        var reason = loss.Text;
        ChatConnectionException? lastFailure = loss.Failure;
        for (var attempt = 1; ; attempt++)
        {
            if (policy.MaxAttempts is { } max && attempt > max)
            {
                var text = $"gave up reconnecting after {max} attempt{(max == 1 ? string.Empty : "s")}: {reason}";
                End(ChatClientCloseReason.TransportFailure, new ChatConnectionException(text, lastFailure ?? new ChatConnectionException(reason)), text);
                return null;
            }

            var delay = policy.NextDelay(attempt);

            // The timer is scheduled before the state says so: a test that sees the state and moves
            // virtual time on finds the timer there.
            var wait = Observable.Timer(delay, policy.Scheduler).ToTask(_stopReconnecting.Token);
            SetStatus(new ChatConnectionStatus(ChatConnectionState.Reconnecting, attempt, delay, reason));
            ClientLog.Reconnecting(_logger, attempt, delay.TotalSeconds);
            try
            {
                await wait.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                End(ChatClientCloseReason.ClosedByClient, null, "closed by the client");
                return null;
            }

            SetStatus(new ChatConnectionStatus(ChatConnectionState.Connecting, attempt, null, null));
            for (var tried = 0; tried < _endPoints.Count; tried++)
            {
                var index = (_endPointIndex + tried) % _endPoints.Count;
                var endPoint = _endPoints[index];
                try
                {
                    var (connection, welcome) = await OpenAsync(endPoint, Nickname, _options, _session, _stopReconnecting.Token).ConfigureAwait(false);
                    if (!Install(connection, index, welcome, out var refusal))
                    {
                        connection.Dispose();
                        if (refusal is null)
                        {
                            End(ChatClientCloseReason.ClosedByClient, null, "closed by the client");
                        }
                        else
                        {
                            End(ChatClientCloseReason.ClosedByServer, new ChatConnectionException(refusal), refusal);
                        }

                        return null;
                    }

                    ClientLog.Connected(_logger, endPoint, Nickname);
                    return attempt;
                }
                catch (ChatHandshakeException exception)
                {
                    var text = $"could not reconnect to {endPoint}: {exception.Message}";
                    End(ChatClientCloseReason.ClosedByServer, new ChatConnectionException(text, exception), text);
                    return null;
                }
                catch (ChatConnectionException exception)
                {
                    reason = exception.Message;
                    lastFailure = exception;
                }
                catch (OperationCanceledException)
                {
                    End(ChatClientCloseReason.ClosedByClient, null, "closed by the client");
                    return null;
                }
            }
        }
    }

    /// <summary>Makes a new connection the client's, unless it is being disposed or the broker now grants less.</summary>
    private bool Install(ClientConnection connection, int index, WelcomeMessage welcome, out string? refusal)
    {
        refusal = null;
        var granted = Granted(_options, welcome);
        if (!granted.Order(StringComparer.Ordinal).SequenceEqual(Capabilities.Order(StringComparer.Ordinal), StringComparer.Ordinal))
        {
            refusal = $"could not reconnect to {connection.EndPoint}: it granted [{string.Join(", ", granted)}] instead of [{string.Join(", ", Capabilities)}]";
            return false;
        }

        lock (_connectionLock)
        {
            if (_disposing)
            {
                return false;
            }

            var old = _connection;
            _connection = connection;
            _endPointIndex = index;
            _session = welcome.Session ?? _session;
            _serverMaxLineLength = welcome.MaxLineLength;
            _linkUp = true;
            old.Dispose();
            return true;
        }
    }

    /// <summary>
    /// Joins every room again on the new connection, resuming after the last chat seen, then says
    /// Connected. A connection lost meanwhile is left to the supervisor (its read ends too).
    /// </summary>
    private async Task RestoreAsync(int attempt)
    {
        var resume = Capabilities.Contains(ChatCapabilities.History, StringComparer.Ordinal);
        var connection = _connection;
        var rejoined = new List<ChatRoom>();
        try
        {
            foreach (var room in Rooms)
            {
                if (!room.IsJoined)
                {
                    continue;
                }

                var join = resume && room.LastSeenId is { } after && room.Epoch is { } epoch
                    ? new JoinMessage(room.Name) { After = after, Epoch = epoch }
                    : new JoinMessage(room.Name);
                var request = new PendingRequest(RequestKind.Join, room.Name) { Rejoining = room };
                try
                {
                    await RequestAsync(join, request, _stopReconnecting.Token, restoring: true).ConfigureAwait(false);
                }
                catch (ChatRequestException)
                {
                    // No answer in time: this connection is no good; the next attempt starts over.
                    _connection.Socket.Dispose();
                    return;
                }

                if (request.Answer.Result is ErrorMessage)
                {
                    // The broker will not have this client in the room any more (a room limit, say).
                    Remove(room.Name)?.End(ChatRoomCloseReason.RemovedByServer, failure: null);
                }
                else
                {
                    rejoined.Add(room);
                }
            }

            // Connected comes after every room's resume, so an app hears "recovered" or "may be
            // missing" for each room first. A replay that does not end as announced is not waited
            // for past the request timeout.
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(_stopReconnecting.Token, connection.Lost.Token);
            try
            {
                var replays = Task.WhenAll(rejoined.Select(room => room.ResumeDone));
                await (_options.RequestTimeout == Timeout.InfiniteTimeSpan ? replays.WaitAsync(stop.Token) : replays.WaitAsync(_options.RequestTimeout, stop.Token)).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                // Go on: the resume will be published when its replay ends.
            }
        }
        catch (Exception exception) when (exception is ChatConnectionException or OperationCanceledException or ObjectDisposedException)
        {
            return;
        }

        _usable = true;
        if (_linkUp && !_closed)
        {
            SetStatus(new ChatConnectionStatus(ChatConnectionState.Connected, attempt, null, null));
        }
    }

    private void SetStatus(ChatConnectionStatus status, bool final = false)
    {
        lock (_statesLock)
        {
            if (_status.State == ChatConnectionState.Closed)
            {
                return;
            }

            _status = status;
            var previous = t_publishing;
            t_publishing = this;
            try
            {
                _states.OnNext(status);
                if (final)
                {
                    _states.OnCompleted();
                }
            }
            catch (Exception)
            {
                // A status observer that throws changes nothing about the connection.
            }
            finally
            {
                t_publishing = previous;
            }
        }
    }

    /// <summary>How a connection ended, and whether the client should come back.</summary>
    private readonly record struct ConnectionLoss(ChatClientCloseReason Reason, ChatConnectionException? Failure, string Text, bool Retry);
}

/// <summary>One TCP connection to a broker, past its handshake.</summary>
/// <param name="socket">The socket.</param>
/// <param name="stream">What is read and written: a NetworkStream over the socket, or an SslStream over that.</param>
/// <param name="reader">Reads the stream.</param>
/// <param name="endPoint">The broker's address.</param>
internal sealed class ClientConnection(Socket socket, Stream stream, ServerMessageReader reader, IPEndPoint endPoint)
{
    public Socket Socket { get; } = socket;

    public Stream Stream { get; } = stream;

    public ServerMessageReader Reader { get; } = reader;

    public IPEndPoint EndPoint { get; } = endPoint;

    /// <summary>Cancelled when the connection can carry nothing more.</summary>
    public CancellationTokenSource Lost { get; } = new();

    /// <summary>
    /// Ends the sending side (with TLS, after its close_notify, which may wait up to
    /// <paramref name="grace"/> for room in the socket): call with the write lock held.
    /// </summary>
    public async Task ShutDownSendingAsync(TimeSpan grace)
    {
        if (Stream is System.Net.Security.SslStream tls)
        {
            await tls.ShutdownAsync().WaitAsync(grace).ConfigureAwait(false);
        }

        Socket.Shutdown(SocketShutdown.Send);
    }

        /// <summary>Closes it; its reader is done (its loop has ended, or never ran).</summary>
    public void Dispose()
    {
        Stream.Dispose();
        Socket.Dispose();
        Reader.Complete();
    }
}
