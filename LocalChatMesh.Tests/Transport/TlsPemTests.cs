using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using LocalChatMesh.Tests.Support;

namespace LocalChatMesh.Tests.Transport;

/// <summary>Loading the broker's certificate and key, and a client's CA, from PEM files: what works and each one-line refusal.</summary>
public class TlsPemTests
{
    private TestCertificates _certificates = null!;

    [OneTimeSetUp]
    public void MakeCertificates() => _certificates = TestCertificates.Create();

    [OneTimeTearDown]
    public void RemoveCertificates() => _certificates.Dispose();

    [Test]
    public void A_certificate_and_its_key_load_with_the_key_and_no_intermediates()
    {
        var tls = _certificates.BrokerTls();

        Assert.That(tls.Certificate.HasPrivateKey, Is.True);
        Assert.That(tls.Certificate.Subject, Is.EqualTo("CN=chatmesh test broker"));
        Assert.That(tls.Intermediates, Is.Empty);
    }

    [Test]
    public void Certificates_after_the_first_are_intermediates_and_the_key_may_share_the_file()
    {
        var combined = Path.Combine(_certificates.Directory, "combined.pem");
        File.WriteAllText(combined, File.ReadAllText(_certificates.ServerCertificatePath) + File.ReadAllText(_certificates.CaPath) + File.ReadAllText(_certificates.ServerKeyPath));

        var tls = BrokerTlsOptions.LoadPemFiles(combined, combined);

        Assert.That(tls.Certificate.Subject, Is.EqualTo("CN=chatmesh test broker"));
        Assert.That(tls.Intermediates.Select(certificate => certificate.Subject), Is.EqualTo(new[] { "CN=Local Chat Mesh test CA" }));
    }

    [Test]
    public void Each_problem_is_one_clear_line()
    {
        var dir = _certificates.Directory;
        var cert = _certificates.ServerCertificatePath;
        var key = _certificates.ServerKeyPath;
        Assert.Multiple(() =>
        {
            Assert.That(Problem(Path.Combine(dir, "nope.pem"), key), Is.EqualTo($"certificate file '{dir}/nope.pem' does not exist"));
            Assert.That(Problem(cert, Path.Combine(dir, "nope", "x.key")), Is.EqualTo($"key file '{dir}/nope/x.key' does not exist"));
            Assert.That(Problem(cert, dir), Does.StartWith($"key file '{dir}' cannot be read: "));
            Assert.That(Problem(cert, _certificates.OtherKeyPath), Is.EqualTo($"the private key in '{_certificates.OtherKeyPath}' does not match the certificate in '{cert}' (or is not an RSA, ECDSA or DSA key)"));
            Assert.That(Problem(key, key), Is.EqualTo($"certificate file '{key}' holds no PEM certificate (-----BEGIN CERTIFICATE-----)"));
            Assert.That(Problem(cert, cert), Is.EqualTo($"key file '{cert}' holds no PEM private key (-----BEGIN PRIVATE KEY-----)"));
            Assert.That(Problem(cert, _certificates.EncryptedKeyPath), Does.StartWith($"key file '{_certificates.EncryptedKeyPath}' holds an encrypted private key"));
        });
    }

    [Test]
    public void A_certificate_without_its_key_is_refused()
    {
        using var certificate = X509CertificateLoader.LoadCertificateFromFile(_certificates.ServerCertificatePath);

        var refused = Assert.Throws<ArgumentException>(() => _ = new BrokerTlsOptions(certificate));

        Assert.That(refused!.Message, Does.StartWith("The TLS certificate has no private key."));
    }

    [Test]
    public void A_client_loads_every_certificate_of_a_CA_file_and_refuses_one_without()
    {
        var bundle = Path.Combine(_certificates.Directory, "bundle.pem");
        File.WriteAllText(bundle, File.ReadAllText(_certificates.CaPath) + File.ReadAllText(_certificates.OtherCaPath));

        Assert.That(ChatClientTlsOptions.LoadPemCertificates(bundle).Select(certificate => certificate.Subject), Is.EqualTo(new[] { "CN=Local Chat Mesh test CA", "CN=Some other CA" }));
        var refused = Assert.Throws<ChatMeshException>(() => ChatClientTlsOptions.LoadPemCertificates(_certificates.ServerKeyPath));
        Assert.That(refused!.Message, Is.EqualTo($"certificate file '{_certificates.ServerKeyPath}' holds no PEM certificate (-----BEGIN CERTIFICATE-----)"));
        Assert.Throws<ArgumentException>(() => _ = new ChatClientTlsOptions { ServerName = " " });
    }

    private static string Problem(string certificatePath, string keyPath)
    {
        try
        {
            BrokerTlsOptions.LoadPemFiles(certificatePath, keyPath);
            return "(loaded)";
        }
        catch (ChatMeshException exception)
        {
            Assert.That(exception.Message, Does.Not.Contain('\n'));
            return exception.Message;
        }
        catch (CryptographicException exception)
        {
            return $"(not wrapped: {exception.Message})";
        }
    }
}
