using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace LocalChatMesh;

/// <summary>
/// TLS for every connection a broker accepts (<see cref="BrokerOptions.Tls"/>): the certificate it
/// presents, with its private key, and the intermediate certificates sent with it. Load a PEM
/// certificate and key with <see cref="LoadPemFiles"/>.
/// </summary>
/// <remarks>
/// With TLS on, each accepted connection must complete a TLS handshake within
/// <see cref="BrokerOptions.HandshakeTimeout"/> before it reaches the chat (which then gives it
/// the same time again to send <c>hello</c>); a connection that fails the handshake, or speaks
/// plain text, is closed and logged in one line. The chat protocol inside TLS is unchanged.
/// </remarks>
public sealed class BrokerTlsOptions
{
    /// <summary>Uses a certificate that has its private key.</summary>
    /// <param name="certificate">The broker's certificate, with its private key.</param>
    /// <param name="intermediates">Certificates between it and the root that clients trust, sent in the handshake; none by default.</param>
    /// <exception cref="ArgumentException">The certificate has no private key.</exception>
    public BrokerTlsOptions(X509Certificate2 certificate, IEnumerable<X509Certificate2>? intermediates = null)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        if (!certificate.HasPrivateKey)
        {
            throw new ArgumentException("The TLS certificate has no private key.", nameof(certificate));
        }

        Certificate = certificate;
        Intermediates = Array.AsReadOnly((intermediates ?? []).ToArray());
        if (Intermediates.Contains(null!))
        {
            throw new ArgumentNullException(nameof(intermediates), "The intermediates cannot contain null.");
        }
    }

    /// <summary>The broker's certificate, with its private key.</summary>
    public X509Certificate2 Certificate { get; }

    /// <summary>The intermediate certificates sent with <see cref="Certificate"/>.</summary>
    public IReadOnlyList<X509Certificate2> Intermediates { get; }

    /// <summary>
    /// Loads a PEM certificate and its PEM private key (unencrypted PKCS#8, PKCS#1 or SEC1, as
    /// openssl writes them). Certificates after the first in <paramref name="certificatePath"/>
    /// are taken as intermediates.
    /// </summary>
    /// <param name="certificatePath">The certificate file (<c>-----BEGIN CERTIFICATE-----</c>), the broker's own first.</param>
    /// <param name="keyPath">The private key file; it may be the certificate file itself.</param>
    /// <exception cref="ChatMeshException">A file is missing or unreadable, holds no certificate or key, or the key does not match the certificate; the message says which, in one line.</exception>
    public static BrokerTlsOptions LoadPemFiles(string certificatePath, string keyPath)
    {
        ArgumentNullException.ThrowIfNull(certificatePath);
        ArgumentNullException.ThrowIfNull(keyPath);
        var certificateText = ReadPem(certificatePath, "certificate");
        var keyText = ReadPem(keyPath, "key");
        var all = new X509Certificate2Collection();
        try
        {
            all.ImportFromPem(certificateText);
        }
        catch (CryptographicException exception)
        {
            throw new ChatMeshException($"certificate file '{certificatePath}' holds an unreadable certificate: {OneLine(exception.Message)}", exception);
        }

        if (all.Count == 0)
        {
            throw new ChatMeshException($"certificate file '{certificatePath}' holds no PEM certificate (-----BEGIN CERTIFICATE-----)");
        }

        X509Certificate2 certificate;
        try
        {
            certificate = X509Certificate2.CreateFromPem(certificateText, keyText);
        }
        catch (Exception exception) when (exception is CryptographicException or ArgumentException)
        {
            // ArgumentException: a key of the right kind that belongs to another certificate.
            throw new ChatMeshException(KeyProblem(certificatePath, keyPath, keyText), exception);
        }

        if (OperatingSystem.IsWindows())
        {
            // Schannel cannot use a key that lives only in memory: give it a persisted copy.
            using var ephemeral = certificate;
            certificate = X509CertificateLoader.LoadPkcs12(ephemeral.Export(X509ContentType.Pkcs12), null);
        }

        all[0].Dispose();
        return new BrokerTlsOptions(certificate, all.Skip(1));
    }

    private static string ReadPem(string path, string what)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception exception) when (exception is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new ChatMeshException($"{what} file '{path}' does not exist", exception);
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new ChatMeshException($"{what} file '{path}' cannot be read: {OneLine(exception.Message)}", exception);
        }
    }

    private static string KeyProblem(string certificatePath, string keyPath, string keyText)
    {
        if (keyText.Contains("-----BEGIN ENCRYPTED PRIVATE KEY-----", StringComparison.Ordinal))
        {
            return $"key file '{keyPath}' holds an encrypted private key; give it unencrypted (openssl pkey -in KEY -out PLAIN)";
        }

        return keyText.Contains("PRIVATE KEY-----", StringComparison.Ordinal)
            ? $"the private key in '{keyPath}' does not match the certificate in '{certificatePath}' (or is not an RSA, ECDSA or DSA key)"
            : $"key file '{keyPath}' holds no PEM private key (-----BEGIN PRIVATE KEY-----)";
    }

    private static string OneLine(string text) => text.ReplaceLineEndings(" ").Trim();
}
