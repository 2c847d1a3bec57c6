using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace LocalChatMesh;

/// <summary>
/// TLS for a <see cref="ChatClient"/> (<see cref="ChatClientOptions.Tls"/>): how the broker's
/// certificate is checked. By default it must chain to a root the system trusts and be issued
/// for the address connected to; <see cref="CertificateAuthorities"/> trusts a private CA
/// instead, <see cref="ServerName"/> checks another name.
/// </summary>
public sealed record ChatClientTlsOptions
{
    /// <summary>System trust, and the name checked is the broker's IP address.</summary>
    public static ChatClientTlsOptions Default { get; } = new();

    /// <summary>
    /// The name the broker's certificate must be issued for, also sent as the TLS server name
    /// (SNI). Null by default: the address connected to, such as <c>127.0.0.1</c>, which the
    /// certificate must then carry as an IP address entry.
    /// </summary>
    /// <exception cref="ArgumentException">The value is empty or white space.</exception>
    public string? ServerName
    {
        get;
        init => field = value is null || !string.IsNullOrWhiteSpace(value)
            ? value
            : throw new ArgumentException("ServerName must be null or a name.", nameof(ServerName));
    }

    /// <summary>
    /// The roots to trust instead of the system's (a private CA, or a self-signed broker
    /// certificate itself), for example from <see cref="LoadPemCertificates"/>. Empty by default:
    /// the system's trusted roots. Revocation is not checked against these.
    /// </summary>
    /// <exception cref="ArgumentNullException">The value, or one of its certificates, is null.</exception>
    public IReadOnlyList<X509Certificate2> CertificateAuthorities
    {
        get;
        init => field = value is null
            ? throw new ArgumentNullException(nameof(CertificateAuthorities))
            : value.Contains(null!)
                ? throw new ArgumentNullException(nameof(CertificateAuthorities), "CertificateAuthorities cannot contain null.")
                : Array.AsReadOnly(value.ToArray());
    } = Array.AsReadOnly(Array.Empty<X509Certificate2>());

    /// <summary>
    /// Decides alone whether the broker's certificate is accepted, given what the usual checks
    /// found (against <see cref="CertificateAuthorities"/> when set); null by default: accepted
    /// only when they found nothing wrong.
    /// </summary>
    public RemoteCertificateValidationCallback? RemoteCertificateValidation { get; init; }

    /// <summary>Reads every certificate of a PEM file (<c>-----BEGIN CERTIFICATE-----</c>), for <see cref="CertificateAuthorities"/>.</summary>
    /// <param name="path">The PEM file.</param>
    /// <exception cref="ChatMeshException">The file is missing or unreadable, or holds no certificate; the message says which, in one line.</exception>
    public static IReadOnlyList<X509Certificate2> LoadPemCertificates(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception exception) when (exception is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new ChatMeshException($"certificate file '{path}' does not exist", exception);
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new ChatMeshException($"certificate file '{path}' cannot be read: {exception.Message.ReplaceLineEndings(" ")}", exception);
        }

        var certificates = new X509Certificate2Collection();
        try
        {
            certificates.ImportFromPem(text);
        }
        catch (CryptographicException exception)
        {
            throw new ChatMeshException($"certificate file '{path}' holds an unreadable certificate: {exception.Message.ReplaceLineEndings(" ")}", exception);
        }

        return certificates.Count > 0
            ? Array.AsReadOnly(certificates.ToArray())
            : throw new ChatMeshException($"certificate file '{path}' holds no PEM certificate (-----BEGIN CERTIFICATE-----)");
    }
}
