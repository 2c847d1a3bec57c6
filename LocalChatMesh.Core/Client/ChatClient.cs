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

    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly ServerMessageReader _reader;
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
    private volatile bool _closed;
    private volatile bool _disposing;
    private int _disposed;

    private ChatClient(Socket socket, NetworkStream stream, ServerMessageReader reader, IPEndPoint endPoint, ChatClientOptions options, WelcomeMessage welcome)
    {
        _socket = socket;
        _stream = stream;
        _reader = reader;
        _options = options;
        _logger = options.LoggerFactory.CreateLogger(ClientLog.Category);
        RemoteEndPoint = endPoint;
        Nickname = welcome.Nickname;

        // Only what was asked for counts as granted, whatever the peer claims.
        Capabilities = Array.AsReadOnly(
            (welcome.Capabilities ?? []).Where(options.Capabilities.Contains).Distinct(StringComparer.Ordinal).ToArray());
        Session = welcome.Session;
        ServerMaxLineLength = welcome.MaxLineLength;
        _participantsChanged = new(_participants);
        _messages = new MessageFanout<ServerMessage>(options.ReadBufferCapacity, backlog: false, attached: StartReading);
        Messages = _messages.Observable;
        ParticipantsChanged = Attach(_participantsChanged);
        DirectMessages = Messages.OfType<DirectDeliveryMessage>();
        _run = RunAsync();
    }

    /// <summary>The nickname the broker reserved for this client, as it echoed it (trimmed).</summary>
    public string Nickname { get; }

    /// <summary>The broker's address.</summary>
    public IPEndPoint RemoteEndPoint { get; }

    /// <summary>
    /// The version 2 capabilities the broker granted, among those asked for in
    /// <see cref="ChatClientOptions.Capabilities"/>; empty against a version 1 broker or when none
    /// were asked for.
    /// </summary>
    public IReadOnlyList<string> Capabilities { get; }

    /// <summary>
    /// The secret the broker tied to this nickname (version 2): give it as
    /// <see cref="ChatClientOptions.Session"/> on a new connection to take the nickname back at once.
    /// Null against a version 1 broker or for a version 1 client.
    /// </summary>
    public string? Session { get; }

    /// <summary>
    /// The longest line the broker accepts, in bytes, when it says (its version 2 <c>welcome</c>
    /// carries <c>max_line_length</c>); null otherwise. Sends of longer lines are refused here with
    /// <see cref="ArgumentException"/> rather than getting the connection closed by the broker.
    /// </summary>
    public int? ServerMaxLineLength { get; }

    /// <summary>
    /// Every server message after <c>welcome</c> (roster, joins, leaves, chats, errors, and the version
    /// 2 messages too: <c>joined</c>, <c>left</c>, room chats, answers, direct messages), from the
    /// moment of subscription. Hot; observers run on the reader loop, one message at a time.
    /// Completes when the connection ends cleanly (either side closed it) and fails with
    /// <see cref="ChatConnectionException"/> when the transport fails. An observer that throws
    /// ends the connection as a transport failure.
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
    /// reach observers before it completes.
    /// </summary>
    public Task<ChatClientCloseReason> Completion => _completion.Task;

    /// <summary>
    /// Connects to a broker at <c>HOST:PORT</c> (as <see cref="ChatEndPoint.Parse"/> reads it:
    /// <c>127.0.0.1:5000</c>, <c>[::1]:5000</c>, <c>localhost:5000</c>) and completes once it has said
    /// <c>welcome</c>; otherwise as <see cref="ConnectAsync(IPEndPoint, string, ChatClientOptions?, CancellationToken)"/>.
    /// </summary>
    /// <param name="server">The broker's address, <c>HOST:PORT</c>.</param>
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
        return ConnectAsync(ChatEndPoint.Parse(server), nickname, options, cancellationToken);
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
        cancellationToken.ThrowIfCancellationRequested();

        Socket? socket = null;
        NetworkStream? stream = null;
        ServerMessageReader? reader = null;
        ChatClient? client = null;
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
            reader = new ServerMessageReader(stream, options.MaxLineLength);
            var hello = MessageEncoder.Encode(new HelloMessage(nickname)
            {
                Token = options.Token,
                Capabilities = options.Capabilities.Count > 0 ? options.Capabilities : null,
                Session = options.Session,
            });
            await stream.WriteAsync(hello, deadline.Token).ConfigureAwait(false);
            var answer = await reader.ReadAsync(deadline.Token).ConfigureAwait(false);
            client = answer switch
            {
                WelcomeMessage welcome => new ChatClient(socket, stream, reader, endPoint, options, welcome),
                ErrorMessage error => throw ChatHandshakeException.FromBroker(error.Message),
                null => throw new ChatConnectionException(CouldNotConnect(endPoint, "the broker closed the connection before welcome")),
                _ => throw new ChatConnectionException(CouldNotConnect(endPoint, $"the server sent '{WireType(answer)}' before welcome")),
            };
            ClientLog.Connected(client._logger, endPoint, client.Nickname);
            return client;
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
            if (client is null)
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
    /// <param name="text">The text of the line.</param>
    /// <param name="cancellationToken">Abandons the send while it waits for its turn.</param>
    /// <exception cref="ArgumentException">The line is longer than the broker accepts (<see cref="ServerMaxLineLength"/>).</exception>
    /// <exception cref="ObjectDisposedException">The client was disposed.</exception>
    /// <exception cref="ChatConnectionException">The connection has ended or failed.</exception>
    public Task SendAsync(string text, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(text);
        return SendLineAsync(new ChatMessage(text), cancellationToken, nameof(text));
    }

    /// <summary>Encodes and sends one client message, whole, after any line already going out.</summary>
    internal async Task SendLineAsync(ClientMessage message, CancellationToken cancellationToken, string paramName = "text")
    {
        ThrowIfUnusable();
        StartReading();
        var frame = MessageEncoder.Encode(message);
        if (ServerMaxLineLength is { } limit && frame.Length - 1 > limit)
        {
            throw new ArgumentException(
                $"the line would be {frame.Length - 1} bytes, and the broker accepts at most {limit}",
                paramName);
        }

        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ThrowIfUnusable();
            await _stream.WriteAsync(frame, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is IOException or SocketException or ObjectDisposedException)
        {
            ThrowIfUnusable();
            throw new ChatConnectionException($"could not send to {RemoteEndPoint}: {Reason(exception)}", exception);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>
    /// Leaves the chat cleanly, so the broker sees a normal leave: shuts down the sending side, waits
    /// briefly (about 2 s) for the broker to close its side, then closes the socket. Calling it
    /// again does nothing.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _disposing = true;

        // An observer that disposes the client runs on the reader loop: waiting for the loop would wait for itself.
        var onReaderLoop = t_publishing == this;
        StartReading();
        if (!_closed)
        {
            var locked = await _writeLock.WaitAsync(CloseGrace).ConfigureAwait(false);
            try
            {
                _socket.Shutdown(SocketShutdown.Send);
            }
            catch (Exception exception) when (exception is SocketException or ObjectDisposedException)
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

            if (!onReaderLoop)
            {
                await WaitBrieflyAsync(_run).ConfigureAwait(false);
            }
        }

        await _stopReading.CancelAsync().ConfigureAwait(false);
        await _stream.DisposeAsync().ConfigureAwait(false);
        _socket.Dispose();
        if (!onReaderLoop && await WaitBrieflyAsync(_run).ConfigureAwait(false))
        {
            _reader.Complete();
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

    private IObservable<IReadOnlyList<string>> Attach(BehaviorSubject<IReadOnlyList<string>> source) => Observable.Create<IReadOnlyList<string>>(observer =>
    {
        var subscription = source.Subscribe(observer);
        StartReading();
        return subscription;
    });

    private void StartReading() => _start.TrySetResult();

    private void ThrowIfUnusable()
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        if (_closed)
        {
            throw new ChatConnectionException($"the connection to {RemoteEndPoint} has ended");
        }
    }

    private async Task RunAsync()
    {
        await _start.Task.ConfigureAwait(false);
        ChatClientCloseReason reason;
        ChatConnectionException? failure = null;
        try
        {
            while (await _reader.ReadAsync(_stopReading.Token).ConfigureAwait(false) is { } message)
            {
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
                        roomPullers = room.Publish(chat);
                    }

                    Answer(message);
                    pullers = _messages.Publish(message);
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

            reason = _disposing ? ChatClientCloseReason.ClosedByClient : ChatClientCloseReason.ClosedByServer;
        }
        catch (Exception) when (_disposing)
        {
            reason = ChatClientCloseReason.ClosedByClient;
        }
        catch (Exception exception)
        {
            // Whatever ended the loop (socket error, protocol violation, a throwing observer),
            // consumers must hear that the connection is over.
            reason = ChatClientCloseReason.TransportFailure;
            failure = new ChatConnectionException($"the connection to {RemoteEndPoint} failed: {Reason(exception)}", exception);
        }

        End(reason, failure);
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

    private void End(ChatClientCloseReason reason, ChatConnectionException? failure)
    {
        _closed = true;
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

        if (!_disposing)
        {
            // The broker is gone: release the socket now rather than at dispose.
            _socket.Dispose();
        }

        if (failure is null)
        {
            ClientLog.Closed(_logger, RemoteEndPoint, reason);
        }
        else
        {
            ClientLog.Failed(_logger, failure, RemoteEndPoint);
        }

        _completion.TrySetResult(reason);
    }
}
