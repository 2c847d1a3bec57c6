using LocalChatMesh.Cluster;
using LocalChatMesh.Cluster.Nats;
using LocalChatMesh.Storage;
using Microsoft.Extensions.Logging;

namespace LocalChatMesh.Cli.Commands;

/// <summary>What <c>broker --cluster</c> was given.</summary>
internal sealed record ClusterSettings(
    string Url,
    string ClusterName,
    string? BrokerName,
    string? CredentialsFile,
    string? Token,
    string? TlsCaFile,
    string? TlsCertificateFile,
    string? TlsKeyFile,
    int HistoryMessagesPerRoom,
    TimeSpan HistoryMaxAge,
    ILoggerFactory LoggerFactory);

/// <summary>
/// The broker command's link to a NATS cluster. The NATS types stay behind this class's methods,
/// so a broker without <c>--cluster</c> never loads the NATS assemblies (it stays as light at rest).
/// Disposed after the broker has stopped, so the broker's last leaves reach the cluster.
/// </summary>
internal sealed class ClusterLink : IAsyncDisposable
{
    private IAsyncDisposable? _engine;

    public IChatCluster? Cluster { get; private set; }

    /// <summary>Joins the cluster; returns the exit code and message of a failure, or null.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    public async Task<(int ExitCode, string Message)?> ConnectAsync(ClusterSettings settings, CancellationToken cancellationToken)
    {
        if (!Uri.TryCreate(settings.Url.Split(',')[0].Trim(), UriKind.Absolute, out var uri) || uri.Scheme is not ("nats" or "tls" or "ws" or "wss") || uri.Port <= 0)
        {
            return (2, $"--cluster must be a NATS server address, as nats://HOST:PORT; it is '{settings.Url}'.");
        }

        var options = NatsClusterOptions.Default with
        {
            Url = settings.Url,
            ClusterName = settings.ClusterName,
            BrokerName = settings.BrokerName ?? NatsClusterOptions.Default.BrokerName,
            CredentialsFile = settings.CredentialsFile,
            Token = settings.Token,
            TlsCaFile = settings.TlsCaFile,
            TlsCertificateFile = settings.TlsCertificateFile,
            TlsKeyFile = settings.TlsKeyFile,
            History = new ChatStoreRetention(Math.Max(1, settings.HistoryMessagesPerRoom), settings.HistoryMaxAge),
            LoggerFactory = settings.LoggerFactory,
        };

        try
        {
            var engine = await NatsClusterEngine.ConnectAsync(options, cancellationToken);
            _engine = engine;
            Cluster = engine;
            return null;
        }
        catch (ArgumentException exception)
        {
            return (2, ClusterFlags(exception.Message.Split('\n')[0].Replace($" (Parameter '{exception.ParamName}')", "", StringComparison.Ordinal)));
        }
        catch (ClusterUnavailableException exception)
        {
            return (1, $"--cluster: {exception.Message}");
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_engine is { } engine)
        {
            await engine.DisposeAsync();
        }
    }

    private static string ClusterFlags(string text) => text
        .Replace("TlsCertificateFile", "--cluster-tls-cert", StringComparison.Ordinal)
        .Replace("TlsKeyFile", "--cluster-tls-key", StringComparison.Ordinal)
        .Replace("TlsCaFile", "--cluster-tls-ca", StringComparison.Ordinal)
        .Replace("CredentialsFile", "--cluster-creds", StringComparison.Ordinal)
        .Replace("ClusterName", "--cluster-name", StringComparison.Ordinal)
        .Replace("Url", "--cluster", StringComparison.Ordinal);
}
