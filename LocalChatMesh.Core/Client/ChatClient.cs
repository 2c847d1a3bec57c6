using System.Collections.ObjectModel;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Reactive.Linq;
using System.Reactive.Subjects;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using LocalChatMesh.Diagnostics;
using LocalChatMesh.Protocol;
using Microsoft.Extensions.Logging;

namespace LocalChatMesh;

/// <summary>
/// A connection to a Local Chat Mesh broker, as one participant. Server messages arrive on one
/// reader loop and are offered two ways, which see the same messages in the same order:
/// <see cref="Messages"/> (push, <see cref="IObservable{T}"/>) and <see cref="ReadMessagesAsync"/>
/// (pull, <see cref="IAsyncEnumerable{T}"/>).
/// </summary>
/// <remarks>
/// <para>
/// Reading starts when the first consumer attaches: a subscription to <see cref="Messages"/> or
/// <see cref="ParticipantsChanged"/>, an enumeration of <see cref="ReadMessagesAsync"/>, a
/// <see cref="SendAsync"/> or <see cref="DisposeAsync"/> (and any version 2 request, direct send or
/// <see cref="DirectMessages"/> consumer). So consumers attached right after
/// <see cref="ConnectAsync(IPEndPoint, string, ChatClientOptions?, CancellationToken)"/> returns see everything after <c>welcome</c>, the <c>roster</c>
/// included. Until then unread messages wait in the socket, and <see cref="Participants"/> and
/// <see cref="Completion"/> do not move.
/// </para>
/// <para>
/// Consumers set the pace: observers run on the reader loop, and each enumeration has a bounded
/// buffer the loop waits on, so a slow consumer slows the broker down through TCP instead of
/// growing memory.
/// </para>
/// <para>
/// Version 2 is opt-in: with <see cref="ChatClientOptions.Capabilities"/> empty (the default) the
/// client sends the same <c>hello</c> as before and sees exactly the version 1 protocol. Asked-for
/// and granted capabilities (<see cref="Capabilities"/>) enable rooms (<see cref="JoinAsync"/>) and
/// direct messages (<see cref="SendDirectAsync"/>).
/// </para>
/// </remarks>
public sealed partial class ChatClient : IAsyncDisposable
{
    // How long a clean close waits for a send in progress, and then for the broker's end of the stream.
    private static readonly TimeSpan CloseGrace = TimeSpan.FromSeconds(2);

    [ThreadStatic]
    private static ChatClient? t_publishing;

    private readonly ChatClientOptions _options;
    private readonly ILogger _logger;
    private readonly MessageFanout<ServerMessage> _messages;
    private readonly BehaviorSubject<IReadOnlyList<string>> _participantsChanged;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly TaskCompletionSource _start = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource<ChatClientCloseReason> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _stopReading = new();
    private readonly Task _run;
    private volatile IReadOnlyList<string> _participants = Array.AsReadOnly(Array.Empty<string>());
    private volatile ClientConnection _connection;
    private volatile bool _closed;
    private volatile bool _disposing;
    private int _disposed;

    private ChatClient(ClientConnection connection, IReadOnlyList<IPEndPoint> endPoints, ChatClientOptions options, WelcomeMessage welcome)
    {
        _connection = connection;
        _endPoints = endPoints;
        _endPointIndex = Math.Max(0, IndexOf(endPoints, connection.EndPoint));
        _options = options;
        _logger = options.LoggerFactory.CreateLogger(ClientLog.Category);
        Nickname = welcome.Nickname;
        Capabilities = Granted(options, welcome);
        _session = welcome.Session;
        _serverMaxLineLength = welcome.MaxLineLength;
        _status = new ChatConnectionStatus(ChatConnectionState.Connected, 0, null, null);
        _states = new(_status);
        ConnectionStates = _states.AsObservable();
        _participantsChanged = new(_participants);
        _messages = new MessageFanout<ServerMessage>(options.ReadBufferCapacity, backlog: false, attached: StartReading);
        Messages = _messages.Observable;
        ParticipantsChanged = Attach(_participantsChanged);
        DirectMessages = Messages.OfType<DirectDeliveryMessage>();
        _run = RunAsync();
    }

    /// <summary>The nickname the broker reserved for this client, as it echoed it (trimmed).</summary>
    public string Nickname { get; }

    /// <summary>The broker's address: the one connected to, or last connected to while reconnecting.</summary>
    public IPEndPoint RemoteEndPoint => _connection.EndPoint;

    /// <summary>
    /// The version 2 capabilities the broker granted, among those asked for in
    /// <see cref="ChatClientOptions.Capabilities"/>; empty against a version 1 broker or when none
    /// were asked for.
    /// </summary>
    public IReadOnlyList<string> Capabilities { get; }

    /// <summary>
    /// The secret the broker tied to this nickname (version 2): give it as
    /// <see cref="ChatClientOptions.Session"/> on a new connection to take the nickname back at once.
    /// Null against a version 1 broker or for a version 1 client. A reconnect
    /// (<see cref="ChatClientOptions.Reconnect"/>) sends it by itself, and keeps the one it gets back.
    /// </summary>
    public string? Session => _session;

    /// <summary>
    /// The longest line the broker accepts, in bytes, when it says (its version 2 <c>welcome</c>
    /// carries <c>max_line_length</c>); null otherwise. Sends of longer lines are refused here with
    /// <see cref="ArgumentException"/> rather than getting the connection closed by the broker.
    /// </summary>
    public int? ServerMaxLineLength => _serverMaxLineLength;

    /// <summary>
    /// Every server message after <c>welcome</c> (roster, joins, leaves, chats, errors, and the version
    /// 2 messages too: <c>joined</c>, <c>left</c>, room chats, answers, direct messages), from the
    /// moment of subscription. Hot; observers run on the reader loop, one message at a time.
    /// Completes when the connection ends cleanly (either side closed it) and fails with
    /// <see cref="ChatConnectionException"/> when the transport fails. An observer that throws
    /// ends the connection as a transport failure. With <see cref="ChatClientOptions.Reconnect"/>
    /// it goes on across reconnects, and ends only when the client is finally
    /// <see cref="ChatConnectionState.Closed"/>.
    /// </summary>
    public IObservable<ServerMessage> Messages { get; }

    /// <summary>
    /// The other participants online (version 1: the <c>lobby</c>), in the order the broker announced
    /// them. Updated by the reader loop before the <c>roster</c>, <c>user_joined</c> or
    /// <c>user_left</c> that changed it is published. After the connection ends it keeps the last
    /// known list. A client granted <c>rooms</c> is in no lobby, so this stays empty: each
    /// <see cref="ChatRoom.Participants"/> has its room's.
    /// </summary>
    public IReadOnlyList<string> Participants => _participants;

    /// <summary>
    /// <see cref="Participants"/> each time it changes; a new subscriber first receives the current
    /// list. Completes when the connection ends, however it ended.
    /// </summary>
    public IObservable<IReadOnlyList<string>> ParticipantsChanged { get; }

    /// <summary>
    /// Completes, never faults, when the connection has ended, with why it ended. Messages still
    /// reach observers before it completes. With <see cref="ChatClientOptions.Reconnect"/> it
    /// completes only when the client is finally <see cref="ChatConnectionState.Closed"/>.
    /// </summary>
    public Task<ChatClientCloseReason> Completion => _completion.Task;

    /// <summary>
    /// Connects to a broker at <c>HOST:PORT</c> (as <see cref="ChatEndPoint.Parse"/> reads it:
    /// <c>127.0.0.1:5000</c>, <c>[::1]:5000</c>, <c>localhost:5000</c>) and completes once it has said
    /// <c>welcome</c>; otherwise as <see cref="ConnectAsync(IPEndPoint, string, ChatClientOptions?, CancellationToken)"/>.
    /// Several brokers of one chat, comma-separated (<c>127.0.0.1:5000,127.0.0.1:5001</c>), are tried
    /// in turn as <see cref="ConnectAsync(IReadOnlyList{IPEndPoint}, string, ChatClientOptions?, CancellationToken)"/> does.
    /// </summary>
    /// <param name="server">The broker's address, <c>HOST:PORT</c>, or several, comma-separated.</param>
    /// <param name="nickname">The nickname to ask for; the broker trims it.</param>
    /// <param name="options">Settings, or null for <see cref="ChatClientOptions.Default"/>.</param>
    /// <param name="cancellationToken">Abandons the attempt.</param>
    /// <exception cref="FormatException"><paramref name="server"/> is not such an address; the message says why.</exception>
    /// <exception cref="ChatHandshakeException">The broker refused the handshake; its text is the message.</exception>
    /// <exception cref="ChatConnectionException">The connection failed, timed out, closed before <c>welcome</c>, or the peer is not a chat broker.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    [System.Diagnostics.CodeAnalysis.SuppressMessage(
        "ApiDesign",
        "RS0026:Do not add multiple public overloads with optional parameters",
        Justification = "The first parameters differ in type (string, IPEndPoint), so no call is ambiguous but one passing a null literal.")]
    public static Task<ChatClient> ConnectAsync(
        string server,
        string nickname,
        ChatClientOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(server);
        var endPoints = server.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        return endPoints.Length > 1
            ? ConnectAsync(Array.ConvertAll(endPoints, ChatEndPoint.Parse), nickname, options, cancellationToken)
            : ConnectAsync(ChatEndPoint.Parse(endPoints.Length == 1 ? endPoints[0] : server), nickname, options, cancellationToken);
    }

    /// <summary>
    /// Connects to the first of several brokers of one chat that answers, trying them in turn, and
    /// completes once it has said <c>welcome</c>; a reconnect (<see cref="ChatClientOptions.Reconnect"/>)
    /// tries them in turn too, starting with the one last connected to. Otherwise as
    /// <see cref="ConnectAsync(IPEndPoint, string, ChatClientOptions?, CancellationToken)"/>; a refused
    /// handshake is thrown at once, without trying the others.
    /// </summary>
    /// <param name="endPoints">The brokers' addresses, at least one.</param>
    /// <param name="nickname">The nickname to ask for; the broker trims it.</param>
    /// <param name="options">Settings, or null for <see cref="ChatClientOptions.Default"/>.</param>
    /// <param name="cancellationToken">Abandons the attempt.</param>
    /// <exception cref="ArgumentException"><paramref name="endPoints"/> is empty or holds null.</exception>
    /// <exception cref="ChatHandshakeException">A broker refused the handshake; its text is the message.</exception>
    /// <exception cref="ChatConnectionException">No broker could be reached; the message names each failure.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    [System.Diagnostics.CodeAnalysis.SuppressMessage(
        "ApiDesign",
        "RS0026:Do not add multiple public overloads with optional parameters",
        Justification = "The first parameters differ in type (string, IPEndPoint, a list of them), so no call is ambiguous but one passing a null literal.")]
    public static async Task<ChatClient> ConnectAsync(
        IReadOnlyList<IPEndPoint> endPoints,
        string nickname,
        ChatClientOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(endPoints);
        ArgumentNullException.ThrowIfNull(nickname);
        if (endPoints.Count == 0 || endPoints.Contains(null!))
        {
            throw new ArgumentException("Give at least one broker address, and no null.", nameof(endPoints));
        }

        options ??= ChatClientOptions.Default;
        var list = Array.AsReadOnly(endPoints.ToArray());
        var failures = new List<ChatConnectionException>();
        foreach (var endPoint in list)
        {
            try
            {
                var (connection, welcome) = await OpenAsync(endPoint, nickname, options, options.Session, cancellationToken).ConfigureAwait(false);
                return Created(connection, list, options, welcome);
            }
            catch (ChatConnectionException exception)
            {
                failures.Add(exception);
            }
        }

        throw failures.Count == 1
            ? failures[0]
            : new ChatConnectionException(string.Join("; ", failures.Select(failure => failure.Message)), failures[^1]);
    }

    /// <summary>
    /// Connects to a broker and completes once it has said <c>welcome</c>. The connect timeout of
    /// <paramref name="options"/> covers the TCP connect and the handshake together. The
    /// <c>hello</c> asks for <see cref="ChatClientOptions.Capabilities"/> (none by default: version 1).
    /// </summary>
    /// <remarks>
    /// Whatever the peer does, the attempt ends with one of the exceptions below, each with a one-line
    /// message: a peer that is not a chat broker (an HTTP server, garbage, a line without end) gives
    /// <see cref="ChatConnectionException"/> such as <c>could not connect to 127.0.0.1:80: the server
    /// sent something that is not the chat protocol ("HTTP/1.1 400 Bad Request")</c>, and never more
    /// than <see cref="ChatClientOptions.MaxLineLength"/> is buffered.
    /// </remarks>
    /// <param name="endPoint">The broker's address.</param>
    /// <param name="nickname">The nickname to ask for; the broker trims it.</param>
    /// <param name="options">Settings, or null for <see cref="ChatClientOptions.Default"/>.</param>
    /// <param name="cancellationToken">Abandons the attempt.</param>
    /// <exception cref="ChatHandshakeException">The broker refused the handshake; its text is the message.</exception>
    /// <exception cref="ChatConnectionException">The connection failed, timed out, closed before <c>welcome</c>, or the peer is not a chat broker.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public static async Task<ChatClient> ConnectAsync(
        IPEndPoint endPoint,
        string nickname,
        ChatClientOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(endPoint);
        ArgumentNullException.ThrowIfNull(nickname);
        options ??= ChatClientOptions.Default;
        var (connection, welcome) = await OpenAsync(endPoint, nickname, options, options.Session, cancellationToken).ConfigureAwait(false);
        return Created(connection, Array.AsReadOnly(new[] { endPoint }), options, welcome);
    }

    private static ChatClient Created(ClientConnection connection, IReadOnlyList<IPEndPoint> endPoints, ChatClientOptions options, WelcomeMessage welcome)
    {
        var client = new ChatClient(connection, endPoints, options, welcome);
        ClientLog.Connected(client._logger, connection.EndPoint, client.Nickname);
        return client;
    }

    /// <summary>Dials, says <c>hello</c> and reads <c>welcome</c>; every failure is one of the documented exceptions.</summary>
    private static async Task<(ClientConnection Connection, WelcomeMessage Welcome)> OpenAsync(
        IPEndPoint endPoint,
        string nickname,
        ChatClientOptions options,
        string? session,
        CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();

        Socket? socket = null;
        Stream? stream = null;
        ServerMessageReader? reader = null;
        ClientConnection? connection = null;
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        if (options.ConnectTimeout != Timeout.InfiniteTimeSpan)
        {
            deadline.CancelAfter(options.ConnectTimeout);
        }

        try
        {
            socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            await socket.ConnectAsync(endPoint, deadline.Token).ConfigureAwait(false);
            stream = new NetworkStream(socket, ownsSocket: true);
            if (options.Tls is { } tls)
            {
                stream = await ClientTls.AuthenticateAsync(stream, endPoint, tls, deadline.Token).ConfigureAwait(false);
            }

            reader = new ServerMessageReader(stream, options.MaxLineLength);
            var hello = MessageEncoder.Encode(new HelloMessage(nickname)
            {
                Token = options.Token,
                Capabilities = options.Capabilities.Count > 0 ? options.Capabilities : null,
                Session = session,
            });
            await stream.WriteAsync(hello, deadline.Token).ConfigureAwait(false);
            var answer = await reader.ReadAsync(deadline.Token).ConfigureAwait(false);
            var welcome = answer switch
            {
                WelcomeMessage message => message,
                ErrorMessage error => throw ChatHandshakeException.FromBroker(error.Message),
                null => throw new ChatConnectionException(CouldNotConnect(endPoint, "the broker closed the connection before welcome")),
                _ => throw new ChatConnectionException(CouldNotConnect(endPoint, $"the server sent '{WireType(answer)}' before welcome")),
            };
            connection = new ClientConnection(socket, stream, reader, endPoint);
            return (connection, welcome);
        }
        catch (OperationCanceledException exception) when (!cancellationToken.IsCancellationRequested)
        {
            var seconds = options.ConnectTimeout.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture);
            throw new ChatConnectionException(CouldNotConnect(endPoint, $"no welcome within {seconds} s"), exception);
        }
        catch (ServerProtocolException exception)
        {
            throw new ChatConnectionException(CouldNotConnect(endPoint, exception.HandshakeReason), exception);
        }
        catch (Exception exception) when (exception is not (ChatMeshException or OperationCanceledException))
        {
            // Socket and stream errors mostly; whatever else a hostile peer provokes still ends as one line.
            throw new ChatConnectionException(CouldNotConnect(endPoint, Reason(exception)), exception);
        }
        finally
        {
            if (connection is null)
            {
                reader?.Complete();
                if (stream is not null)
                {
                    await stream.DisposeAsync().ConfigureAwait(false);
                }

                socket?.Dispose();
            }
        }
    }

    /// <summary>
    /// Every server message after <c>welcome</c>, from the moment the enumeration begins, in the
    /// order <see cref="Messages"/> sees them. Each enumeration has its own buffer of
    /// <see cref="ChatClientOptions.ReadBufferCapacity"/> messages; when it is full the reader loop
    /// waits, so the broker is slowed down rather than memory growing. Ends when the connection
    /// ends cleanly; throws <see cref="ChatConnectionException"/> when the transport failed.
    /// </summary>
    /// <param name="cancellationToken">Stops this enumeration (with <see cref="OperationCanceledException"/>); the connection stays.</param>
    public IAsyncEnumerable<ServerMessage> ReadMessagesAsync(CancellationToken cancellationToken = default) =>
        _messages.ReadAsync(cancellationToken);

    /// <summary>
    /// Sends a chat line (version 1: to everybody; with <c>rooms</c>: to <c>lobby</c>, use
    /// <see cref="ChatRoom.SendAsync"/> for a room). Safe to call from several threads at once: lines
    /// go out whole, one after another. Cancellation applies while waiting for a turn; a line that
    /// has started going out is sent whole.
    /// </summary>
    /// <remarks>
    /// While the client is reconnecting (<see cref="ConnectionState"/> is not
    /// <see cref="ChatConnectionState.Connected"/>) nothing is queued: the send throws
    /// <see cref="ChatConnectionException"/> at once, and the line was not sent. A line is never sent
    /// twice: one written before the connection was lost is not sent again (if the broker did not
    /// read it, it is lost; with <c>meta</c> and a resumed room its echo tells whether it arrived).
    /// </remarks>
    /// <param name="text">The text of the line.</param>
    /// <param name="cancellationToken">Abandons the send while it waits for its turn.</param>
    /// <exception cref="ArgumentException">The line is longer than the broker accepts (<see cref="ServerMaxLineLength"/>).</exception>
    /// <exception cref="ObjectDisposedException">The client was disposed.</exception>
    /// <exception cref="ChatConnectionException">The connection has ended or failed, or the client is reconnecting.</exception>
    public Task SendAsync(string text, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(text);
        return SendLineAsync(new ChatMessage(text), cancellationToken, nameof(text));
    }

    /// <summary>Encodes and sends one client message, whole, after any line already going out.</summary>
    /// <param name="message">The line.</param>
    /// <param name="cancellationToken">Abandons the send while it waits for its turn.</param>
    /// <param name="paramName">The argument a too long line is blamed on.</param>
    /// <param name="restoring">The library's own line during a reconnect (a rejoin): allowed before the client is Connected again.</param>
    internal async Task SendLineAsync(ClientMessage message, CancellationToken cancellationToken, string paramName = "text", bool restoring = false)
    {
        ThrowIfUnusable(restoring);
        StartReading();
        var frame = MessageEncoder.Encode(message);
        if (ServerMaxLineLength is { } limit && frame.Length - 1 > limit)
        {
            throw new ArgumentException(
                $"the line would be {frame.Length - 1} bytes, and the broker accepts at most {limit}",
                paramName);
        }

        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        var connection = _connection;
        try
        {
            ThrowIfUnusable(restoring);
            await connection.Stream.WriteAsync(frame, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is IOException or SocketException or ObjectDisposedException)
        {
            ThrowIfUnusable(restoring);
            throw new ChatConnectionException($"could not send to {connection.EndPoint}: {Reason(exception)}", exception);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>
    /// Leaves the chat cleanly, so the broker sees a normal leave: shuts down the sending side, waits
    /// briefly (about 2 s) for the broker to close its side, then closes the socket. Calling it
    /// again does nothing. While reconnecting it stops at once: the client is then
    /// <see cref="ChatConnectionState.Closed"/>.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        // Under the lock a reconnect installs its connection with, so none is installed after this.
        lock (_connectionLock)
        {
            _disposing = true;
        }

        await _stopReconnecting.CancelAsync().ConfigureAwait(false);

        // An observer that disposes the client runs on the reader loop: waiting for the loop would wait for itself.
        var onReaderLoop = t_publishing == this;
        StartReading();
        var connection = _connection;
        if (!_closed && _linkUp)
        {
            var locked = await _writeLock.WaitAsync(CloseGrace).ConfigureAwait(false);
            try
            {
                await connection.ShutDownSendingAsync(CloseGrace).ConfigureAwait(false);
            }
            catch (Exception exception) when (exception is SocketException or ObjectDisposedException or IOException or TimeoutException)
            {
                // Already closed underneath us: nothing to shut down.
            }
            finally
            {
                if (locked)
                {
                    _writeLock.Release();
                }
            }
        }

        if (!_closed && !onReaderLoop)
        {
            await WaitBrieflyAsync(_run).ConfigureAwait(false);
        }

        await _stopReading.CancelAsync().ConfigureAwait(false);
        await connection.Stream.DisposeAsync().ConfigureAwait(false);
        connection.Socket.Dispose();
        if (!onReaderLoop && await WaitBrieflyAsync(_run).ConfigureAwait(false))
        {
            connection.Reader.Complete();
        }
    }

    private static async Task<bool> WaitBrieflyAsync(Task task)
    {
        try
        {
            await task.WaitAsync(CloseGrace).ConfigureAwait(false);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }

    private static string CouldNotConnect(IPEndPoint endPoint, string reason) => $"could not connect to {endPoint}: {reason}";

    // A socket error's own text ("Connection refused") reads better than the IOException around it.
    private static string Reason(Exception exception) =>
        exception is IOException { InnerException: SocketException socketException } ? socketException.Message : exception.Message;

    // Only what was asked for counts as granted, whatever the peer claims.
    private static ReadOnlyCollection<string> Granted(ChatClientOptions options, WelcomeMessage welcome) => Array.AsReadOnly(
        (welcome.Capabilities ?? []).Where(options.Capabilities.Contains).Distinct(StringComparer.Ordinal).ToArray());

    private IObservable<IReadOnlyList<string>> Attach(BehaviorSubject<IReadOnlyList<string>> source) => Observable.Create<IReadOnlyList<string>>(observer =>
    {
        var subscription = source.Subscribe(observer);
        StartReading();
        return subscription;
    });

    private void StartReading() => _start.TrySetResult();

    private void ThrowIfUnusable(bool restoring = false)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        if (_closed)
        {
            throw new ChatConnectionException($"the connection to {RemoteEndPoint} has ended");
        }

        if (!_linkUp || (!restoring && !_usable))
        {
            var status = _status;
            throw new ChatConnectionException(status.Attempt > 0
                ? $"not sent: the connection to {RemoteEndPoint} was lost and the client is reconnecting (attempt {status.Attempt})"
                : $"not sent: the connection to {RemoteEndPoint} was lost and the client is reconnecting");
        }
    }

    /// <summary>
    /// Reads one connection until it ends, publishing each message (reader loop); says how it ended.
    /// </summary>
    private async Task<ConnectionLoss> ReadConnectionAsync(ClientConnection connection)
    {
        string? lastError = null;
        var observerFailed = false;
        try
        {
            while (await connection.Reader.ReadAsync(_stopReading.Token).ConfigureAwait(false) is { } message)
            {
                // Only an error right before the close says why the broker closed.
                lastError = (message as ErrorMessage)?.Message;
                Channel<ServerMessage>[] pullers;
                ChatRoom? room;
                Channel<ChatBroadcastMessage>[] roomPullers = [];

                // What runs inline on this loop (state, answers, observers) must know it does.
                t_publishing = this;
                try
                {
                    // The room first, so that whoever sees a chat on Messages finds it in its room too.
                    Track(message);
                    room = Route(message);
                    if (room is not null && message is ChatBroadcastMessage chat)
                    {
                        if (room.IsDuplicate(chat))
                        {
                            continue;
                        }

                        roomPullers = room.Publish(chat);
                    }

                    Answer(message);
                    pullers = _messages.Publish(message);
                }
                catch (Exception)
                {
                    observerFailed = true;
                    throw;
                }
                finally
                {
                    t_publishing = null;
                }

                if (roomPullers.Length > 0)
                {
                    await MessageFanout<ChatBroadcastMessage>.FeedAsync(roomPullers, (ChatBroadcastMessage)message, _stopReading.Token).ConfigureAwait(false);
                }

                await MessageFanout<ServerMessage>.FeedAsync(pullers, message, _stopReading.Token).ConfigureAwait(false);
            }

            return _disposing
                ? new ConnectionLoss(ChatClientCloseReason.ClosedByClient, null, "closed by the client", Retry: false)
                : new ConnectionLoss(ChatClientCloseReason.ClosedByServer, null, lastError ?? "server closed the connection", Retry: CanRetry(lastError));
        }
        catch (Exception) when (_disposing)
        {
            return new ConnectionLoss(ChatClientCloseReason.ClosedByClient, null, "closed by the client", Retry: false);
        }
        catch (Exception exception)
        {
            // Whatever ended the loop (socket error, protocol violation, a throwing observer),
            // consumers must hear that the connection is over.
            var failure = new ChatConnectionException($"the connection to {connection.EndPoint} failed: {Reason(exception)}", exception);
            return new ConnectionLoss(ChatClientCloseReason.TransportFailure, failure, failure.Message, Retry: !observerFailed && CanRetry(null));
        }
        finally
        {
            LinkDown(connection);
        }
    }

    // The lobby roster of version 1; messages that name a room belong to that room's participants.
    private void Track(ServerMessage message)
    {
        var current = _participants;
        string[]? next = message switch
        {
            RosterMessage { Room: null } roster => [.. roster.Participants],
            UserJoinedMessage { Room: null } joined when !current.Contains(joined.Nickname, StringComparer.Ordinal) => [.. current, joined.Nickname],
            UserLeftMessage { Room: null } left when current.Contains(left.Nickname, StringComparer.Ordinal) =>
                current.Where(nickname => !string.Equals(nickname, left.Nickname, StringComparison.Ordinal)).ToArray(),
            _ => null,
        };
        if (next is not null)
        {
            _participants = Array.AsReadOnly(next);
            _participantsChanged.OnNext(_participants);
        }
    }

    private void End(ChatClientCloseReason reason, ChatConnectionException? failure, string text)
    {
        _closed = true;
        _linkUp = false;
        var connectionEnded = failure ?? new ChatConnectionException($"the connection to {RemoteEndPoint} has ended");
        Interlocked.Exchange(ref _pending, null)?.Fail(connectionEnded);
        t_publishing = this;
        try
        {
            _messages.Complete(failure);
            foreach (var room in TakeRooms())
            {
                room.End(ChatRoomCloseReason.ConnectionEnded, failure);
            }

            _participantsChanged.OnCompleted();
        }
        catch (Exception)
        {
            // An observer without an error handler rethrows; the connection is over either way.
        }
        finally
        {
            t_publishing = null;
        }

        var connection = _connection;
        if (!_disposing)
        {
            // The broker is gone: release the socket now rather than at dispose.
            connection.Socket.Dispose();
        }

        if (failure is null)
        {
            ClientLog.Closed(_logger, connection.EndPoint, reason);
        }
        else
        {
            ClientLog.Failed(_logger, failure, connection.EndPoint);
        }

        SetStatus(new ChatConnectionStatus(ChatConnectionState.Closed, _status.Attempt, null, text), final: true);
        _completion.TrySetResult(reason);
    }
}
