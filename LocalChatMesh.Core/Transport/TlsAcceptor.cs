using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using LocalChatMesh.Protocol;

namespace LocalChatMesh.Transport;

/// <summary>
/// The server side of TLS: turns an accepted socket into an authenticated <see cref="SslStream"/>,
/// or says in a few words why it could not. Made only when <see cref="BrokerOptions.Tls"/> is set,
/// so a broker without TLS never maps the TLS libraries.
/// </summary>
internal sealed class TlsAcceptor
{
    /// <summary>What a peer that speaks plain text to a TLS broker is told before the close.</summary>
    public const string PlainTextRefusal = "this broker requires TLS";

    // A TLS connection starts with a handshake record (content type 22).
    private const byte HandshakeRecord = 0x16;

    // How long, and how much, to read and discard after telling a plain-text peer, so that closing
    // with its hello unread does not reset the connection and destroy the explanation.
    private static readonly TimeSpan RefusalLinger = TimeSpan.FromSeconds(2);
    private const int RefusalLingerBytes = 64 * 1024;

    private readonly SslServerAuthenticationOptions _options;

    public TlsAcceptor(BrokerTlsOptions tls)
    {
        // Offline: a broker never goes to the network to complete its own chain at start.
        var context = SslStreamCertificateContext.Create(
            tls.Certificate,
            new X509Certificate2Collection(tls.Intermediates.ToArray()),
            offline: true);
        _options = new SslServerAuthenticationOptions
        {
            ServerCertificateContext = context,
            ClientCertificateRequired = false,
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
        };
    }

    /// <summary>
    /// Performs the server handshake on <paramref name="socket"/>, which it does not own. A peer
    /// that sends plain text instead is told <see cref="PlainTextRefusal"/> and refused.
    /// </summary>
    /// <exception cref="TlsRefusedException">The handshake failed; the message says why.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled (timeout or stop).</exception>
    public async Task<SslStream> AuthenticateAsync(Socket socket, CancellationToken cancellationToken)
    {
        var first = new byte[1];
        int peeked;
        try
        {
            peeked = await socket.ReceiveAsync(first, SocketFlags.Peek, cancellationToken).ConfigureAwait(false);
        }
        catch (SocketException exception)
        {
            throw new TlsRefusedException(exception.Message, exception);
        }

        if (peeked == 0)
        {
            throw new TlsRefusedException("closed before the TLS handshake");
        }

        if (first[0] != HandshakeRecord)
        {
            await RefusePlainTextAsync(socket, cancellationToken).ConfigureAwait(false);
            throw new TlsRefusedException("plain text instead of TLS (told that TLS is required)");
        }

        var stream = new SslStream(new NetworkStream(socket, ownsSocket: false), leaveInnerStreamOpen: false);
        try
        {
            await stream.AuthenticateAsServerAsync(_options, cancellationToken).ConfigureAwait(false);
            return stream;
        }
        catch (Exception exception) when (exception is AuthenticationException or IOException or SocketException)
        {
            await stream.DisposeAsync().ConfigureAwait(false);
            throw new TlsRefusedException(Reason(exception), exception);
        }
        catch
        {
            await stream.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private static async Task RefusePlainTextAsync(Socket socket, CancellationToken cancellationToken)
    {
        using var linger = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        linger.CancelAfter(RefusalLinger);
        try
        {
            await socket.SendAsync(MessageEncoder.Encode(new ErrorMessage(PlainTextRefusal)), SocketFlags.None, linger.Token).ConfigureAwait(false);
            socket.Shutdown(SocketShutdown.Send);
            var discard = new byte[4096];
            var total = 0;
            int read;
            while (total < RefusalLingerBytes && (read = await socket.ReceiveAsync(discard, SocketFlags.None, linger.Token).ConfigureAwait(false)) > 0)
            {
                total += read;
            }
        }
        catch (Exception exception) when (exception is SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // The peer went away, or kept the connection open too long: it is closed either way.
        }
    }

    // The innermost message says most ("The remote certificate was rejected...", "Received an
    // unexpected EOF..."), on one line.
    private static string Reason(Exception exception)
    {
        var innermost = exception;
        while (innermost.InnerException is { } inner && innermost is not SocketException)
        {
            innermost = inner;
        }

        var text = innermost == exception ? exception.Message : $"{exception.Message} ({innermost.Message})";
        return text.ReplaceLineEndings(" ");
    }
}

/// <summary>A TLS handshake that did not succeed; the message is a one-line reason.</summary>
internal sealed class TlsRefusedException : Exception
{
    public TlsRefusedException(string message)
        : base(message)
    {
    }

    public TlsRefusedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
