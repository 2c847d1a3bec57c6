using LocalChatMesh.Protocol;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace LocalChatMesh;

/// <summary>Settings for a <see cref="ChatClient"/>. Each value is checked when it is set.</summary>
public sealed record ChatClientOptions
{
    /// <summary>The settings used when none are given.</summary>
    public static ChatClientOptions Default { get; } = new();

    /// <summary>
    /// The longest line accepted from the broker, in bytes, terminator excluded. A longer line
    /// ends the connection. Defaults to <see cref="LineFramer.DefaultMaxLineLength"/>.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is less than 1.</exception>
    public int MaxLineLength
    {
        get;
        init => field = value >= 1
            ? value
            : throw new ArgumentOutOfRangeException(nameof(MaxLineLength), value, "MaxLineLength must be at least 1 byte.");
    } = LineFramer.DefaultMaxLineLength;

    /// <summary>
    /// How long <see cref="ChatClient.ConnectAsync"/> may take, TCP connect and handshake together:
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
    /// How many messages each <see cref="ChatClient.ReadMessagesAsync"/> enumeration may hold
    /// unread before the client stops reading from the socket: 1024 by default.
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
