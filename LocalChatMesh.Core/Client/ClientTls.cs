using System.Net;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;

namespace LocalChatMesh;

/// <summary>The client side of TLS: the handshake, and a one-line reason when it fails.</summary>
internal static class ClientTls
{
    /// <summary>
    /// Authenticates the broker over <paramref name="inner"/>: the SslStream returned owns it; on
    /// failure the stream (and <paramref name="inner"/>) is disposed.
    /// </summary>
    /// <exception cref="ChatConnectionException">The handshake failed or the certificate was refused; the message says why.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    /// <remarks>Typed Stream, so that a plain client never loads System.Net.Security.</remarks>
    public static async Task<Stream> AuthenticateAsync(Stream inner, IPEndPoint endPoint, ChatClientTlsOptions tls, CancellationToken cancellationToken)
    {
        var serverName = tls.ServerName ?? endPoint.Address.ToString();
        var found = SslPolicyErrors.None;
        var chainStatus = X509ChainStatusFlags.NoError;
        var options = new SslClientAuthenticationOptions
        {
            TargetHost = serverName,
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            RemoteCertificateValidationCallback = (sender, certificate, chain, errors) =>
            {
                found = errors;
                foreach (var status in chain?.ChainStatus ?? [])
                {
                    chainStatus |= status.Status;
                }

                return tls.RemoteCertificateValidation is { } decide
                    ? decide(sender, certificate, chain, errors)
                    : errors == SslPolicyErrors.None;
            },
        };
        if (tls.CertificateAuthorities.Count > 0)
        {
            var policy = new X509ChainPolicy
            {
                TrustMode = X509ChainTrustMode.CustomRootTrust,
                RevocationMode = X509RevocationMode.NoCheck,
            };
            policy.CustomTrustStore.AddRange(tls.CertificateAuthorities.ToArray());
            options.CertificateChainPolicy = policy;
        }

        var stream = new SslStream(inner, leaveInnerStreamOpen: false);
        try
        {
            await stream.AuthenticateAsClientAsync(options, cancellationToken).ConfigureAwait(false);
            return stream;
        }
        catch (Exception exception) when (exception is AuthenticationException or IOException)
        {
            await stream.DisposeAsync().ConfigureAwait(false);
            var reason = exception is AuthenticationException && (found != SslPolicyErrors.None || tls.RemoteCertificateValidation is not null)
                ? Refused(found, chainStatus, serverName, tls.RemoteCertificateValidation is not null)
                : $"TLS handshake failed: {Innermost(exception)}{(exception is IOException ? " (is the broker serving TLS on this port?)" : "")}";
            throw new ChatConnectionException($"could not connect to {endPoint}: {reason}", exception);
        }
        catch
        {
            await stream.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Why the broker's certificate was refused, naming the checks that failed.</summary>
    internal static string Refused(SslPolicyErrors errors, X509ChainStatusFlags chainStatus, string serverName, bool callback)
    {
        if (errors == SslPolicyErrors.None)
        {
            return callback
                ? "TLS: the server's certificate was refused by the RemoteCertificateValidation callback"
                : "TLS: the server's certificate was refused";
        }

        var problems = new List<string>();
        if (errors.HasFlag(SslPolicyErrors.RemoteCertificateNotAvailable))
        {
            problems.Add("the server sent no certificate (RemoteCertificateNotAvailable)");
        }

        if (errors.HasFlag(SslPolicyErrors.RemoteCertificateChainErrors))
        {
            var status = chainStatus == X509ChainStatusFlags.NoError ? "" : $": {chainStatus}";
            problems.Add($"the server's certificate is not trusted (RemoteCertificateChainErrors{status})");
        }

        if (errors.HasFlag(SslPolicyErrors.RemoteCertificateNameMismatch))
        {
            problems.Add($"the server's certificate is not issued for '{serverName}' (RemoteCertificateNameMismatch)");
        }

        return $"TLS: {string.Join("; ", problems)}";
    }

    private static string Innermost(Exception exception)
    {
        var innermost = exception;
        while (innermost.InnerException is { } inner)
        {
            innermost = inner;
        }

        return innermost.Message.ReplaceLineEndings(" ");
    }
}
