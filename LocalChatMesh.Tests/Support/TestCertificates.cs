using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace LocalChatMesh.Tests.Support;

/// <summary>
/// A throw-away PKI made in the test: a CA, a server certificate it issued for 127.0.0.1, ::1
/// and localhost, and an unrelated second CA and key; all written as PEM files in a temporary
/// directory, so tests load them the way an operator would (<c>--tls-cert</c>, <c>--tls-ca</c>).
/// </summary>
internal sealed class TestCertificates : IDisposable
{
    private TestCertificates(string directory)
    {
        Directory = directory;
    }

    public string Directory { get; }

    /// <summary>The CA that issued the server certificate (certificate only).</summary>
    public string CaPath => Path.Combine(Directory, "ca.pem");

    /// <summary>Another CA, which issued nothing here.</summary>
    public string OtherCaPath => Path.Combine(Directory, "other-ca.pem");

    /// <summary>The server certificate followed by nothing else.</summary>
    public string ServerCertificatePath => Path.Combine(Directory, "server.pem");

    /// <summary>The server certificate's private key, PKCS#8.</summary>
    public string ServerKeyPath => Path.Combine(Directory, "server.key");

    /// <summary>A private key that belongs to no certificate here.</summary>
    public string OtherKeyPath => Path.Combine(Directory, "other.key");

    /// <summary>The server key, encrypted with the password "secret".</summary>
    public string EncryptedKeyPath => Path.Combine(Directory, "server-encrypted.key");

    public static TestCertificates Create()
    {
        var directory = Path.Combine(Path.GetTempPath(), $"chatmesh-tls-{Guid.NewGuid():N}");
        System.IO.Directory.CreateDirectory(directory);
        var made = new TestCertificates(directory);

        var notBefore = DateTimeOffset.UtcNow.AddDays(-1);
        var notAfter = DateTimeOffset.UtcNow.AddDays(30);
        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var ca = CreateCa("CN=Local Chat Mesh test CA", caKey, notBefore, notAfter);
        using var otherCaKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var otherCa = CreateCa("CN=Some other CA", otherCaKey, notBefore, notAfter);

        using var serverKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=chatmesh test broker", serverKey, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        names.AddIpAddress(IPAddress.IPv6Loopback);
        names.AddDnsName("localhost");
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        using var server = request.Create(ca, notBefore.AddMinutes(1), notAfter.AddMinutes(-1), RandomNumberGenerator.GetBytes(12));

        using var otherKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        File.WriteAllText(made.CaPath, ca.ExportCertificatePem() + "\n");
        File.WriteAllText(made.OtherCaPath, otherCa.ExportCertificatePem() + "\n");
        File.WriteAllText(made.ServerCertificatePath, server.ExportCertificatePem() + "\n");
        File.WriteAllText(made.ServerKeyPath, serverKey.ExportPkcs8PrivateKeyPem() + "\n");
        File.WriteAllText(made.OtherKeyPath, otherKey.ExportPkcs8PrivateKeyPem() + "\n");
        File.WriteAllText(
            made.EncryptedKeyPath,
            serverKey.ExportEncryptedPkcs8PrivateKeyPem("secret", new PbeParameters(PbeEncryptionAlgorithm.Aes128Cbc, HashAlgorithmName.SHA256, 1000)));
        return made;
    }

    public BrokerTlsOptions BrokerTls() => BrokerTlsOptions.LoadPemFiles(ServerCertificatePath, ServerKeyPath);

    /// <summary>Client TLS that trusts the test CA.</summary>
    public ChatClientTlsOptions ClientTls() => new() { CertificateAuthorities = ChatClientTlsOptions.LoadPemCertificates(CaPath) };

    public void Dispose()
    {
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
            // A temporary directory left behind is harmless.
        }
    }

    private static X509Certificate2 CreateCa(string subject, ECDsa key, DateTimeOffset notBefore, DateTimeOffset notAfter)
    {
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        return request.CreateSelfSigned(notBefore, notAfter);
    }
}
