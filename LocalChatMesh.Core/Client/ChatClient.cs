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
/// <see cref="SendAsync"/> or <see cref="DisposeAsync"/>. So consumers attached right after
/// <see cref="ConnectAsync"/> returns see everything after <c>welcome</c>, the <c>roster</c>
/// included. Until then unread messages wait in the socket, and <see cref="Participants"/> and
/// <see cref="Completion"/> do not move.
/// </para>
/// <para>
/// Consumers set the pace: observers run on the reader loop, and each enumeration has a bounded
/// buffer the loop waits on, so a slow consumer slows the broker down through TCP instead of
/// growing memory.
/// </para>
/// </remarks>
public sealed class ChatClient : IAsyncDisposable
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
    private readonly Subject<ServerMessage> _messages = new();
    private readonly BehaviorSubject<IReadOnlyList<string>> _participantsChanged;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly TaskCompletionSource _start = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource<ChatClientCloseReason> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _stopReading = new();
    private readonly Lock _pullersLock = new();
    private readonly Task _run;
    private volatile Channel<ServerMessage>[] _pullers = [];
    private bool _ended;
    private ChatConnectionException? _failure;
    private volatile IReadOnlyList<string> _participants = Array.AsReadOnly(Array.Empty<string>());
    private volatile bool _closed;
    private volatile bool _disposing;
    private int _disposed;

    private ChatClient(Socket socket, NetworkStream stream, ServerMessageReader reader, IPEndPoint endPoint, ChatClientOptions options, string nickname)
    {
        _socket = socket;
        _stream = stream;
        _reader = reader;
        _options = options;
        _logger = options.LoggerFactory.CreateLogger(ClientLog.Category);
        RemoteEndPoint = endPoint;
        Nickname = nickname;
        _participantsChanged = new(_participants);
        Messages = Attach(_messages);
        ParticipantsChanged = Attach(_participantsChanged);
        _run = RunAsync();
    }

    /// <summary>The nickname the broker reserved for this client, as it echoed it (trimmed).</summary>
    public string Nickname { get; }

    /// <summary>The broker's address.</summary>
    public IPEndPoint RemoteEndPoint { get; }

    /// <summary>
    /// Every server message after <c>welcome</c> (roster, joins, leaves, chats, errors), from the
    /// moment of subscription. Hot; observers run on the reader loop, one message at a time.
    /// Completes when the connection ends cleanly (either side closed it) and fails with
    /// <see cref="ChatConnectionException"/> when the transport fails. An observer that throws
    /// ends the connection as a transport failure.
    /// </summary>
    public IObservable<ServerMessage> Messages { get; }

    /// <summary>
    /// The other participants online, in the order the broker announced them. Updated by the
    /// reader loop before the <c>roster</c>, <c>user_joined</c> or <c>user_left</c> that changed
    /// it is published. After the connection ends it keeps the last known list.
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
    /// Connects to a broker and completes once it has said <c>welcome</c>. The connect timeout of
    /// <paramref name="options"/> covers the TCP connect and the handshake together.
    /// </summary>
    /// <param name="endPoint">The broker's address.</param>
    /// <param name="nickname">The nickname to ask for; the broker trims it.</param>
    /// <param name="options">Settings, or null for <see cref="ChatClientOptions.Default"/>.</param>
    /// <param name="cancellationToken">Abandons the attempt.</param>
    /// <exception cref="ChatHandshakeException">The broker refused the handshake; its text is the message.</exception>
    /// <exception cref="ChatConnectionException">The connection failed, timed out, or closed before <c>welcome</c>.</exception>
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

        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
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
            await socket.ConnectAsync(endPoint, deadline.Token).ConfigureAwait(false);
            stream = new NetworkStream(socket, ownsSocket: true);
            reader = new ServerMessageReader(stream, options.MaxLineLength);
            var hello = MessageEncoder.Encode(new HelloMessage(nickname) { Token = options.Token });
            await stream.WriteAsync(hello, deadline.Token).ConfigureAwait(false);
            var answer = await reader.ReadAsync(deadline.Token).ConfigureAwait(false);
            client = answer switch
            {
                WelcomeMessage welcome => new ChatClient(socket, stream, reader, endPoint, options, welcome.Nickname),
                ErrorMessage error => throw new ChatHandshakeException(error.Message),
                null => throw new ChatConnectionException(CouldNotConnect(endPoint, "the broker closed the connection before welcome")),
                _ => throw new ChatConnectionException(CouldNotConnect(endPoint, $"the broker sent {answer.GetType().Name} before welcome")),
            };
            ClientLog.Connected(client._logger, endPoint, client.Nickname);
            return client;
        }
        catch (OperationCanceledException exception) when (!cancellationToken.IsCancellationRequested)
        {
            var seconds = options.ConnectTimeout.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture);
            throw new ChatConnectionException(CouldNotConnect(endPoint, $"no welcome within {seconds} s"), exception);
        }
        catch (Exception exception) when (exception is SocketException or IOException)
        {
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

                socket.Dispose();
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
    public async IAsyncEnumerable<ServerMessage> ReadMessagesAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var buffer = Channel.CreateBounded<ServerMessage>(new BoundedChannelOptions(_options.ReadBufferCapacity)
        {
            FullMode = BoundedChannelFullMode.Wait,
            SingleReader = true,
        });
        lock (_pullersLock)
        {
            if (_ended)
            {
                buffer.Writer.TryComplete(_failure);
            }
            else
            {
                _pullers = [.. _pullers, buffer];
            }
        }

        StartReading();
        try
        {
            await foreach (var message in buffer.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                // ReadAllAsync checks the token only when its buffer runs dry; stop promptly instead.
                cancellationToken.ThrowIfCancellationRequested();
                yield return message;
            }
        }
        finally
        {
            lock (_pullersLock)
            {
                _pullers = Array.FindAll(_pullers, puller => puller != buffer);
            }

            // Frees the reader loop if it is waiting for room in this buffer.
            buffer.Writer.TryComplete();
        }
    }

    /// <summary>
    /// Sends a chat line. Safe to call from several threads at once: lines go out whole, one after
    /// another. Cancellation applies while waiting for a turn; a line that has started going out
    /// is sent whole.
    /// </summary>
    /// <param name="text">The text of the line.</param>
    /// <param name="cancellationToken">Abandons the send while it waits for its turn.</param>
    /// <exception cref="ObjectDisposedException">The client was disposed.</exception>
    /// <exception cref="ChatConnectionException">The connection has ended or failed.</exception>
    public async Task SendAsync(string text, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(text);
        ThrowIfUnusable();
        StartReading();
        var frame = MessageEncoder.Encode(new ChatMessage(text));
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

    private IObservable<T> Attach<T>(IObservable<T> source) => Observable.Create<T>(observer =>
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
                Track(message);
                Publish(message);
                await FeedPullersAsync(message).ConfigureAwait(false);
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

    private void Track(ServerMessage message)
    {
        var current = _participants;
        string[]? next = message switch
        {
            RosterMessage roster => [.. roster.Participants],
            UserJoinedMessage joined when !current.Contains(joined.Nickname, StringComparer.Ordinal) => [.. current, joined.Nickname],
            UserLeftMessage left when current.Contains(left.Nickname, StringComparer.Ordinal) =>
                current.Where(nickname => !string.Equals(nickname, left.Nickname, StringComparison.Ordinal)).ToArray(),
            _ => null,
        };
        if (next is not null)
        {
            _participants = Array.AsReadOnly(next);
            Publish(_participantsChanged, _participants);
        }
    }

    private void Publish(ServerMessage message) => Publish(_messages, message);

    private void Publish<T>(ISubject<T> subject, T value)
    {
        t_publishing = this;
        try
        {
            subject.OnNext(value);
        }
        finally
        {
            t_publishing = null;
        }
    }

    private async ValueTask FeedPullersAsync(ServerMessage message)
    {
        foreach (var puller in _pullers)
        {
            if (puller.Writer.TryWrite(message))
            {
                continue;
            }

            try
            {
                await puller.Writer.WriteAsync(message, _stopReading.Token).ConfigureAwait(false);
            }
            catch (ChannelClosedException)
            {
                // That enumeration has stopped; the others carry on.
            }
        }
    }

    private void End(ChatClientCloseReason reason, ChatConnectionException? failure)
    {
        _closed = true;
        Channel<ServerMessage>[] pullers;
        lock (_pullersLock)
        {
            _ended = true;
            _failure = failure;
            pullers = _pullers;
            _pullers = [];
        }

        foreach (var puller in pullers)
        {
            puller.Writer.TryComplete(failure);
        }

        t_publishing = this;
        try
        {
            if (failure is null)
            {
                _messages.OnCompleted();
            }
            else
            {
                _messages.OnError(failure);
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
