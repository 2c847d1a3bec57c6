using LocalChatMesh.Cluster;
using LocalChatMesh.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace LocalChatMesh.Cluster.Nats;

/// <summary>
/// How a broker joins a cluster through a NATS server: where the server is, the name the brokers of
/// one chat share, how much room history the cluster keeps and how fast a dead broker is noticed.
/// Values are checked by <see cref="NatsClusterEngine.ConnectAsync"/>, which names a bad one.
/// </summary>
public sealed record NatsClusterOptions
{
    /// <summary>The options used when none are given: a NATS server on 127.0.0.1:4222, cluster <c>chatmesh</c>.</summary>
    public static NatsClusterOptions Default { get; } = new();

    /// <summary>The NATS server, as <c>nats://HOST:PORT</c> (several, comma-separated, for a NATS cluster).</summary>
    public string Url { get; init; } = "nats://127.0.0.1:4222";

    /// <summary>
    /// The name every broker of one chat uses: it prefixes every subject, stream and bucket, so several
    /// chats (or tests) can share one NATS server. 1-32 characters: lower-case ASCII letters, digits, <c>-</c>, <c>_</c>.
    /// </summary>
    public string ClusterName { get; init; } = "chatmesh";

    /// <summary>A readable name for this broker, part of its <see cref="NatsClusterEngine.BrokerId"/>; the machine name by default.</summary>
    public string BrokerName { get; init; } = Environment.MachineName;

    /// <summary>
    /// The room history the cluster keeps: per room, the newest <see cref="ChatStoreRetention.MaxMessagesPerRoom"/>
    /// chats no older than <see cref="ChatStoreRetention.MaxAge"/> (JetStream's MaxMsgsPerSubject and MaxAge).
    /// </summary>
    public ChatStoreRetention History { get; init; } = ChatStoreRetention.Default;

    /// <summary>How often a broker renews its heartbeat: 2 s by default.</summary>
    public TimeSpan HeartbeatInterval { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// How long a heartbeat lives (the heartbeat bucket's MaxAge): a broker silent this long is dead and
    /// its nicknames are freed. At least twice <see cref="HeartbeatInterval"/>; 6 s by default, so with
    /// <see cref="ReaperInterval"/> a dead broker's nicknames are free within 8-9 s.
    /// </summary>
    public TimeSpan HeartbeatTimeout { get; init; } = TimeSpan.FromSeconds(6);

    /// <summary>How often a broker looks for reservations whose broker is dead, and checks its own: 2 s by default.</summary>
    public TimeSpan ReaperInterval { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>How long one request to NATS (a publish's acknowledgement, a bucket operation, a direct message) may take: 5 s by default.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How long <see cref="NatsClusterEngine.ConnectAsync"/> waits for the NATS server: 5 s by default.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>A NATS credentials file (<c>.creds</c>: a user JWT and its NKey seed), or null.</summary>
    public string? CredentialsFile { get; init; }

    /// <summary>A NATS token (the server's <c>--auth</c>), or null. A user and password can also be given in <see cref="Url"/>.</summary>
    public string? Token { get; init; }

    /// <summary>
    /// A PEM file of the certificate authorities to trust for the NATS server's TLS certificate, or null
    /// for the system's. Setting it (or <see cref="TlsCertificateFile"/>) requires TLS.
    /// </summary>
    public string? TlsCaFile { get; init; }

    /// <summary>A PEM client certificate for a NATS server that verifies clients (with <see cref="TlsKeyFile"/>), or null.</summary>
    public string? TlsCertificateFile { get; init; }

    /// <summary>The PEM private key of <see cref="TlsCertificateFile"/>, or null.</summary>
    public string? TlsKeyFile { get; init; }

    /// <summary>Where the engine logs (connection lost and back, reaped reservations); nothing by default.</summary>
    public ILoggerFactory LoggerFactory { get; init; } = NullLoggerFactory.Instance;

    internal void Validate()
    {
        if (string.IsNullOrWhiteSpace(Url))
        {
            throw new ArgumentException("Url must name a NATS server, as nats://HOST:PORT.", nameof(Url));
        }

        if (ClusterName is not { Length: >= 1 and <= 32 } || !ClusterName.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c is '-' or '_'))
        {
            throw new ArgumentException($"ClusterName '{ClusterName}' must be 1-32 lower-case ASCII letters, digits, '-' or '_'.", nameof(ClusterName));
        }

        ArgumentNullException.ThrowIfNull(BrokerName, nameof(BrokerName));
        if ((TlsCertificateFile is null) != (TlsKeyFile is null))
        {
            throw new ArgumentException("TlsCertificateFile and TlsKeyFile go together: give both or neither.", nameof(TlsKeyFile));
        }

        foreach (var (file, name) in new[] { (CredentialsFile, nameof(CredentialsFile)), (TlsCaFile, nameof(TlsCaFile)), (TlsCertificateFile, nameof(TlsCertificateFile)), (TlsKeyFile, nameof(TlsKeyFile)) })
        {
            if (file is not null && !File.Exists(file))
            {
                throw new ArgumentException($"{name} '{file}' does not exist.", name);
            }
        }

        ArgumentNullException.ThrowIfNull(History, nameof(History));
        ArgumentNullException.ThrowIfNull(LoggerFactory, nameof(LoggerFactory));
        Positive(HeartbeatInterval, nameof(HeartbeatInterval));
        Positive(HeartbeatTimeout, nameof(HeartbeatTimeout));
        Positive(ReaperInterval, nameof(ReaperInterval));
        Positive(RequestTimeout, nameof(RequestTimeout));
        Positive(ConnectTimeout, nameof(ConnectTimeout));
        if (HeartbeatTimeout < 2 * HeartbeatInterval)
        {
            throw new ArgumentOutOfRangeException(nameof(HeartbeatTimeout), HeartbeatTimeout, "HeartbeatTimeout must be at least twice HeartbeatInterval, or one late renewal kills a live broker.");
        }
    }

    private static void Positive(TimeSpan value, string name)
    {
        if (value <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(name, value, $"{name} must be positive.");
        }
    }
}
