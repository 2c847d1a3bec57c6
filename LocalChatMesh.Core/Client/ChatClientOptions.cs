using LocalChatMesh.Protocol;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace LocalChatMesh;

/// <summary>Settings for a <see cref="ChatClient"/>. Each value is checked when it is set.</summary>
public sealed record ChatClientOptions
{
    /// <summary>The settings used when none are given.</summary>
    public static ChatClientOptions Default { get; } = new();

    /// <summary>The default <see cref="MaxLineLength"/>: 1 MiB.</summary>
    internal const int DefaultMaxLineLength = 1024 * 1024;

    /// <summary>
    /// The longest line accepted from the broker, in bytes, terminator excluded: 1 MiB by default.
    /// A longer line ends the connection (during <see cref="ChatClient.ConnectAsync(System.Net.IPEndPoint, string, ChatClientOptions?, CancellationToken)"/>
    /// it fails the connect), so a peer that is not a broker cannot make the client buffer without bound.
    /// </summary>
    /// <remarks>
    /// A server line is larger than the client line it came from: a chat of the broker's maximum
    /// (8 KiB by default) can grow up to six times when the broker escapes control characters, and
    /// gains the nickname, room, id and time; a <c>room_list</c> or <c>roster</c> grows with the
    /// number of rooms or members. 1 MiB covers those with a wide margin; memory is used only for
    /// lines that long, never reserved.
    /// </remarks>
    /// <exception cref="ArgumentOutOfRangeException">The value is less than 1.</exception>
    public int MaxLineLength
    {
        get;
        init => field = value >= 1
            ? value
            : throw new ArgumentOutOfRangeException(nameof(MaxLineLength), value, "MaxLineLength must be at least 1 byte.");
    } = DefaultMaxLineLength;

    /// <summary>
    /// The version 2 extensions to ask for in <c>hello</c> (names from <see cref="ChatCapabilities"/>;
    /// <see cref="ChatCapabilities.All"/> asks for everything). Empty by default: the client then
    /// speaks version 1 exactly as before, with no <c>capabilities</c> field, and lives in the
    /// broker's <c>lobby</c>. What the broker grants is <see cref="ChatClient.Capabilities"/>.
    /// </summary>
    /// <exception cref="ArgumentNullException">The value, or one of its names, is null.</exception>
    public IReadOnlyList<string> Capabilities
    {
        get;
        init => field = value is null
            ? throw new ArgumentNullException(nameof(Capabilities))
            : value.Contains(null!)
                ? throw new ArgumentNullException(nameof(Capabilities), "Capabilities cannot contain null.")
                : Array.AsReadOnly(value.ToArray());
    } = Array.AsReadOnly(Array.Empty<string>());

    /// <summary>
    /// The session secret of an earlier connection (<see cref="ChatClient.Session"/>), sent in
    /// <c>hello</c> to take that nickname back at once even if the broker still holds it for the old
    /// connection. Null by default; a wrong or stale secret is ignored by the broker.
    /// </summary>
    public string? Session { get; init; }

    /// <summary>
    /// How long a request (<see cref="ChatClient.JoinAsync"/>, <see cref="ChatRoom.LeaveAsync"/>,
    /// <see cref="ChatClient.ListRoomsAsync"/>, <see cref="ChatClient.WhoAsync"/>) waits for the
    /// broker's answer: 10 seconds by default, or <see cref="Timeout.InfiniteTimeSpan"/> for no limit.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is not positive and not infinite.</exception>
    public TimeSpan RequestTimeout
    {
        get;
        init => field = value > TimeSpan.Zero || value == Timeout.InfiniteTimeSpan
            ? value
            : throw new ArgumentOutOfRangeException(nameof(RequestTimeout), value, "RequestTimeout must be positive, or Timeout.InfiniteTimeSpan.");
    } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// How long <c>ChatClient.ConnectAsync</c> may take, TCP connect and handshake together:
    /// 10 seconds by default, or <see cref="Timeout.InfiniteTimeSpan"/> for no limit.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is not positive and not infinite.</exception>
    public TimeSpan ConnectTimeout
    {
        get;
        init => field = value > TimeSpan.Zero || value == Timeout.InfiniteTimeSpan
            ? value
            : throw new ArgumentOutOfRangeException(nameof(ConnectTimeout), value, "ConnectTimeout must be positive, or Timeout.InfiniteTimeSpan.");
    } = TimeSpan.FromSeconds(10);

    /// <summary>The broker's shared secret, sent in <c>hello</c> when set; null by default.</summary>
    public string? Token { get; init; }

    /// <summary>
    /// TLS to the broker (whose <see cref="BrokerOptions.Tls"/> must be set), or null (the default)
    /// for plain TCP. <see cref="ChatClientTlsOptions.Default"/> checks the broker's certificate
    /// against the system's trusted roots and the address connected to; a certificate that fails
    /// fails the connect with a <see cref="ChatConnectionException"/> naming the reason, such as
    /// <c>TLS: the server's certificate is not trusted (RemoteCertificateChainErrors: PartialChain)</c>.
    /// Reconnects use it too.
    /// </summary>
    public ChatClientTlsOptions? Tls { get; init; }

    /// <summary>
    /// How many messages each <see cref="ChatClient.ReadMessagesAsync"/> enumeration (and each
    /// room's) may hold unread before the client stops reading from the socket: 1024 by default.
    /// It is also the size of each room's backlog, which keeps the messages that arrive before
    /// the room's first consumer attaches.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is less than 1.</exception>
    public int ReadBufferCapacity
    {
        get;
        init => field = value >= 1
            ? value
            : throw new ArgumentOutOfRangeException(nameof(ReadBufferCapacity), value, "ReadBufferCapacity must be at least 1 message.");
    } = 1024;

    /// <summary>
    /// How the client comes back when an established connection is lost (the broker shut down,
    /// restarted, or vanished): null (the default) does not, and the client closes as it always
    /// did. With a policy the client reconnects by itself with backoff, takes its nickname back
    /// with its session, joins its rooms again resuming after the last chat seen, and reports each
    /// step on <see cref="ChatClient.ConnectionStates"/>.
    /// </summary>
    /// <exception cref="ArgumentException">The policy's <see cref="ChatReconnectPolicy.MaxDelay"/> is less than its <see cref="ChatReconnectPolicy.InitialDelay"/>.</exception>
    public ChatReconnectPolicy? Reconnect
    {
        get;
        init
        {
            value?.Validate();
            field = value;
        }
    }

    /// <summary>
    /// Where the client's log messages go, under the category <c>LocalChatMesh.Client</c>: the
    /// connection made, and how it ended. Nowhere by default.
    /// </summary>
    /// <exception cref="ArgumentNullException">The value is null.</exception>
    public ILoggerFactory LoggerFactory
    {
        get;
        init => field = value ?? throw new ArgumentNullException(nameof(LoggerFactory));
    } = NullLoggerFactory.Instance;
}
