using LocalChatMesh.Tests.Support;

namespace LocalChatMesh.Tests.Cli;

/// <summary>
/// <c>broker --tls-cert/--tls-key</c> and <c>client --tls/--tls-ca/--tls-server-name</c>, as the
/// built CLI runs them: a TLS chat between the real binaries, and one-line usage errors.
/// </summary>
public class TlsCommandTests
{
    private TestCertificates _certificates = null!;

    [OneTimeSetUp]
    public void MakeCertificates() => _certificates = TestCertificates.Create();

    [OneTimeTearDown]
    public void RemoveCertificates() => _certificates.Dispose();

    [Test]
    public async Task Alice_and_bob_chat_over_TLS_through_the_real_binaries()
    {
        await using var broker = CliProcess.Start("broker", "--listen", "127.0.0.1:0", "--tls-cert", _certificates.ServerCertificatePath, "--tls-key", _certificates.ServerKeyPath);
        var banner = await broker.WaitForOutputLineAsync(line => line.StartsWith("broker listening on 127.0.0.1:", StringComparison.Ordinal), "the banner");
        var server = banner.Split(' ')[^1];

        await using var alice = CliProcess.Start("client", "--nickname", "alice", "--server", server, "--tls", "--tls-ca", _certificates.CaPath);
        await alice.WaitForOutputLineAsync("*** connected as alice");
        await using var bob = CliProcess.Start("client", "--nickname", "bob", "--server", server, "--tls", "--tls-ca", _certificates.CaPath, "--tls-server-name", "localhost");
        await bob.WaitForOutputLineAsync("*** connected as bob");
        await alice.WaitForOutputLineAsync("*** bob joined the chat");

        await alice.WriteLineAsync("over TLS");
        await bob.WaitForOutputLineAsync("<alice> over TLS");

        // Without the CA: refused, one line, and the broker carries on.
        await using var mallory = CliProcess.Start("client", "--nickname", "mallory", "--server", server, "--tls");
        Assert.That(await mallory.WaitForExitAsync(), Is.EqualTo(1), mallory.Transcript());
        Assert.That(mallory.ErrorLines, Is.EqualTo(new[] { $"!!! could not connect to {server}: TLS: the server's certificate is not trusted (RemoteCertificateChainErrors: PartialChain)" }), mallory.Transcript());

        // Without --tls: the broker says so.
        await using var plain = CliProcess.Start("client", "--nickname", "plain", "--server", server);
        Assert.That(await plain.WaitForExitAsync(), Is.EqualTo(1), plain.Transcript());
        Assert.That(plain.ErrorLines, Is.EqualTo(new[] { "!!! this broker requires TLS" }), plain.Transcript());

        await bob.WriteLineAsync("still fine");
        await alice.WaitForOutputLineAsync("<bob> still fine");
        await alice.WriteLineAsync("/quit");
        Assert.That(await alice.WaitForExitAsync(), Is.EqualTo(0), alice.Transcript());
        await bob.WaitForOutputLineAsync("*** alice left the chat");
        await bob.WriteLineAsync("/quit");
        Assert.That(await bob.WaitForExitAsync(), Is.EqualTo(0), bob.Transcript());

        await broker.SignalAsync("TERM");
        Assert.That(await broker.WaitForExitAsync(), Is.EqualTo(0), broker.Transcript());
        Assert.That(broker.ErrorLines.Where(line => line.Contains("fail", StringComparison.OrdinalIgnoreCase) && !line.Contains("TLS handshake failed", StringComparison.Ordinal)), Is.Empty, broker.Transcript());
    }

    [TestCase("cert-only", "error: --tls-cert needs --tls-key: give both a PEM certificate and its key, or neither for plain TCP")]
    [TestCase("key-only", "error: --tls-key needs --tls-cert: give both a PEM certificate and its key, or neither for plain TCP")]
    [TestCase("missing-cert", "error: --tls-cert: certificate file '{dir}/nope.pem' does not exist")]
    [TestCase("missing-key", "error: --tls-key: key file '{dir}/nope.key' does not exist")]
    [TestCase("mismatched", "error: --tls-key: the private key in '{dir}/other.key' does not match the certificate in '{dir}/server.pem'")]
    [TestCase("key-as-cert", "error: --tls-cert: certificate file '{dir}/server.key' holds no PEM certificate (-----BEGIN CERTIFICATE-----)")]
    [TestCase("directory", "error: --tls-key: key file '{dir}' cannot be read: ")]
    public async Task Broker_TLS_flag_errors_exit_2_with_one_line(string problem, string expected)
    {
        var dir = _certificates.Directory;
        string[] tls = problem switch
        {
            "cert-only" => ["--tls-cert", _certificates.ServerCertificatePath],
            "key-only" => ["--tls-key", _certificates.ServerKeyPath],
            "missing-cert" => ["--tls-cert", Path.Combine(dir, "nope.pem"), "--tls-key", _certificates.ServerKeyPath],
            "missing-key" => ["--tls-cert", _certificates.ServerCertificatePath, "--tls-key", Path.Combine(dir, "nope.key")],
            "mismatched" => ["--tls-cert", _certificates.ServerCertificatePath, "--tls-key", _certificates.OtherKeyPath],
            "key-as-cert" => ["--tls-cert", _certificates.ServerKeyPath, "--tls-key", _certificates.ServerKeyPath],
            "directory" => ["--tls-cert", _certificates.ServerCertificatePath, "--tls-key", dir],
            _ => throw new ArgumentOutOfRangeException(nameof(problem)),
        };
        await using var cli = CliProcess.Start(["broker", "--listen", "127.0.0.1:0", .. tls]);

        Assert.That(await cli.WaitForExitAsync(), Is.EqualTo(2), cli.Transcript());
        Assert.That(cli.ErrorLines, Has.Count.EqualTo(1), cli.Transcript());
        Assert.That(cli.ErrorLines[0], Does.StartWith(expected.Replace("{dir}", dir, StringComparison.Ordinal)), cli.Transcript());
        Assert.That(cli.OutputLines, Is.Empty, cli.Transcript());
    }

    [TestCase("ca-without-tls", "error: --tls-ca needs --tls")]
    [TestCase("name-without-tls", "error: --tls-server-name needs --tls")]
    [TestCase("missing-ca", "error: --tls-ca: certificate file '{dir}/nope.pem' does not exist")]
    [TestCase("key-as-ca", "error: --tls-ca: certificate file '{dir}/server.key' holds no PEM certificate (-----BEGIN CERTIFICATE-----)")]
    [TestCase("blank-name", "error: --tls-server-name: give a name, such as chat.example.org")]
    public async Task Client_TLS_flag_errors_exit_2_with_one_line(string problem, string expected)
    {
        var dir = _certificates.Directory;
        string[] tls = problem switch
        {
            "ca-without-tls" => ["--tls-ca", _certificates.CaPath],
            "name-without-tls" => ["--tls-server-name", "localhost"],
            "missing-ca" => ["--tls", "--tls-ca", Path.Combine(dir, "nope.pem")],
            "key-as-ca" => ["--tls", "--tls-ca", _certificates.ServerKeyPath],
            "blank-name" => ["--tls", "--tls-server-name", " "],
            _ => throw new ArgumentOutOfRangeException(nameof(problem)),
        };

        // Nothing listens there: a flag error must be reported before any connection is tried.
        await using var cli = CliProcess.Start(["client", "--nickname", "alice", "--server", "127.0.0.1:1", .. tls]);

        Assert.That(await cli.WaitForExitAsync(), Is.EqualTo(2), cli.Transcript());
        Assert.That(cli.ErrorLines, Is.EqualTo(new[] { expected.Replace("{dir}", dir, StringComparison.Ordinal) }), cli.Transcript());
        Assert.That(cli.OutputLines, Is.Empty, cli.Transcript());
    }
}
