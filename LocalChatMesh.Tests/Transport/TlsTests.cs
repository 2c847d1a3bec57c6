using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;
using LocalChatMesh.Protocol;
using LocalChatMesh.Tests.Support;
using Microsoft.Extensions.Logging;
using Microsoft.Reactive.Testing;

namespace LocalChatMesh.Tests.Transport;

/// <summary>
/// TLS between the real broker and clients on 127.0.0.1, with a CA and server certificate made
/// in the test and loaded from PEM files: chat, refusal of an untrusted or misnamed certificate,
/// plain text against TLS both ways, a silent handshake, reconnecting.
/// </summary>
public class TlsTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);
    private TestCertificates _certificates = null!;

    [OneTimeSetUp]
    public void MakeCertificates() => _certificates = TestCertificates.Create();

    [OneTimeTearDown]
    public void RemoveCertificates() => _certificates.Dispose();

    [Test]
    public async Task Two_clients_chat_through_a_TLS_broker_every_line_in_order()
    {
        await using var broker = await StartTlsBrokerAsync();
        var tls = ChatClientOptions.Default with { Tls = _certificates.ClientTls() };
        await using var bob = await ChatClient.ConnectAsync(broker.LocalEndPoint, "bob", tls).WaitAsync(Deadline);
        await using var alice = await ChatClient.ConnectAsync(broker.LocalEndPoint, "alice", tls).WaitAsync(Deadline);
        var heard = ReadChatsAsync(bob, "alice", count: 301);

        // Many lines at once, so frames queue up and go out coalesced; one near the line limit,
        // larger than a TLS record.
        var texts = Enumerable.Range(0, 300).Select(i => $"line {i}").Append(new string('x', 8000)).ToArray();
        foreach (var text in texts)
        {
            await alice.SendAsync(text);
        }

        Assert.That(await heard.WaitAsync(Deadline), Is.EqualTo(texts));
    }

    [Test]
    public async Task Inside_TLS_the_broker_sends_the_version_1_lines_exactly()
    {
        await using var broker = await StartTlsBrokerAsync();
        await using var alice = await ChatClient.ConnectAsync(broker.LocalEndPoint, "alice", ChatClientOptions.Default with { Tls = _certificates.ClientTls() }).WaitAsync(Deadline);

        // A raw TLS connection reads the broker's exact lines: v1 wire behaviour inside TLS.
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(broker.LocalEndPoint).WaitAsync(Deadline);
        await using var raw = await RawTlsAsync(socket, "127.0.0.1");
        using var reader = new StreamReader(raw, Encoding.UTF8);
        await raw.WriteAsync(Encoding.UTF8.GetBytes("{\"type\":\"hello\",\"nickname\":\"bob\"}\n"));
        Assert.That(await reader.ReadLineAsync().WaitAsync(Deadline), Is.EqualTo("{\"type\":\"welcome\",\"nickname\":\"bob\"}"));
        Assert.That(await reader.ReadLineAsync().WaitAsync(Deadline), Is.EqualTo("{\"type\":\"roster\",\"participants\":[\"alice\"]}"));
        await alice.SendAsync("hi bob");
        Assert.That(await ReadUntilChatAsync(reader), Is.EqualTo("{\"type\":\"chat\",\"nickname\":\"alice\",\"text\":\"hi bob\"}"));
    }

    [Test]
    public async Task An_untrusted_certificate_is_refused_with_a_clear_reason_and_the_broker_keeps_serving()
    {
        var logs = new RecordingLoggerFactory();

        // One slot only: a refused connection that kept its slot would shut the good client out.
        await using var broker = await StartTlsBrokerAsync(options => options with { MaxClients = 1, LoggerFactory = logs });
        using var events = new EventRecorder(broker);

        for (var attempt = 1; attempt <= 3; attempt++)
        {
            var refused = Assert.ThrowsAsync<ChatConnectionException>(async () =>
                await ChatClient.ConnectAsync(broker.LocalEndPoint, "mallory", ChatClientOptions.Default with { Tls = ChatClientTlsOptions.Default }).WaitAsync(Deadline));

            // The CA is not in the system's store, and the broker sends only its own certificate.
            Assert.That(refused!.Message, Is.EqualTo($"could not connect to {broker.LocalEndPoint}: TLS: the server's certificate is not trusted (RemoteCertificateChainErrors: PartialChain)"));

            // With TLS 1.2 the broker's handshake fails; with TLS 1.3 it has completed before the
            // client checks, so the hub sees a connection that closes. Either way it is over.
            await WaitUntilAsync(
                () => TlsFailures(logs).Count + events.Snapshot().OfType<ClientDisconnectedEvent>().Count() >= attempt,
                $"the broker to be done with attempt {attempt}");
        }

        Assert.That(logs.Entries.Where(entry => entry.Level >= LogLevel.Warning), Is.Empty, "a refused client is no warning");
        Assert.That(TlsFailures(logs).Select(entry => entry.Exception), Is.All.Null, "one line, no stack trace");

        await using var alice = await ChatClient.ConnectAsync(broker.LocalEndPoint, "alice", ChatClientOptions.Default with { Tls = _certificates.ClientTls() }).WaitAsync(Deadline);
        var heard = ReadChatsAsync(alice, "alice", count: 1);
        await alice.SendAsync("still here");
        Assert.That(await heard.WaitAsync(Deadline), Is.EqualTo(new[] { "still here" }));
    }

    [Test]
    public async Task A_broken_handshake_is_logged_in_one_line_and_frees_its_place()
    {
        var logs = new RecordingLoggerFactory();
        await using var broker = await StartTlsBrokerAsync(options => options with { MaxClients = 1, LoggerFactory = logs });
        using var events = new EventRecorder(broker);

        // A handshake record that is not a ClientHello: the broker's side of the handshake fails.
        // (A client refusing the broker's certificate does not fail it: .NET checks the
        // certificate once the handshake is complete, so the hub sees a connection that closes.)
        for (var attempt = 1; attempt <= 2; attempt++)
        {
            using (var broken = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
            {
                await broken.ConnectAsync(broker.LocalEndPoint).WaitAsync(Deadline);
                await broken.SendAsync(new byte[] { 0x16, 0x03, 0x01, 0x00, 0x04, 0xde, 0xad, 0xbe, 0xef });
                var received = new List<byte>();
                var buffer = new byte[256];
                int read;
                while ((read = await broken.ReceiveAsync(buffer).WaitAsync(Deadline)) > 0)
                {
                    received.AddRange(buffer.AsSpan(0, read));
                }

                Assert.That(received.Count == 0 || received[0] == 0x15, Is.True, $"nothing, or a TLS alert (record type 21), then the close; got {Convert.ToHexString([.. received])}");
            }

            await WaitUntilAsync(() => TlsFailures(logs).Count >= attempt, $"the broker to log the failed handshake {attempt}: {string.Join(" | ", logs.Entries.Select(entry => entry.Message))}");
        }

        var failures = TlsFailures(logs);
        Assert.That(failures.Select(entry => entry.Level), Is.All.EqualTo(LogLevel.Information));
        Assert.That(failures.Select(entry => entry.Exception), Is.All.Null, "one line, no stack trace");
        Assert.That(failures.Select(entry => entry.Message), Is.All.Not.Contain('\n'));
        Assert.That(events.Snapshot().OfType<ClientConnectedEvent>(), Is.Empty, "the hub never saw them");

        await using var alice = await ChatClient.ConnectAsync(broker.LocalEndPoint, "alice", ChatClientOptions.Default with { Tls = _certificates.ClientTls() }).WaitAsync(Deadline);
        Assert.That(alice.Nickname, Is.EqualTo("alice"));
    }

    [Test]
    public async Task A_certificate_from_another_CA_is_refused()
    {
        await using var broker = await StartTlsBrokerAsync();
        var other = new ChatClientTlsOptions { CertificateAuthorities = ChatClientTlsOptions.LoadPemCertificates(_certificates.OtherCaPath) };

        var refused = Assert.ThrowsAsync<ChatConnectionException>(async () =>
            await ChatClient.ConnectAsync(broker.LocalEndPoint, "mallory", ChatClientOptions.Default with { Tls = other }).WaitAsync(Deadline));

        Assert.That(refused!.Message, Does.Contain("TLS: the server's certificate is not trusted (RemoteCertificateChainErrors"));
    }

    [Test]
    public async Task The_name_checked_is_the_address_unless_another_is_given()
    {
        await using var broker = await StartTlsBrokerAsync();
        var trusted = _certificates.ClientTls();

        var misnamed = Assert.ThrowsAsync<ChatConnectionException>(async () =>
            await ChatClient.ConnectAsync(broker.LocalEndPoint, "alice", ChatClientOptions.Default with { Tls = trusted with { ServerName = "chat.example.org" } }).WaitAsync(Deadline));
        Assert.That(misnamed!.Message, Is.EqualTo($"could not connect to {broker.LocalEndPoint}: TLS: the server's certificate is not issued for 'chat.example.org' (RemoteCertificateNameMismatch)"));

        await using var byName = await ChatClient.ConnectAsync(broker.LocalEndPoint, "alice", ChatClientOptions.Default with { Tls = trusted with { ServerName = "localhost" } }).WaitAsync(Deadline);
        Assert.That(byName.Nickname, Is.EqualTo("alice"));
    }

    [Test]
    public async Task A_validation_callback_decides_alone_and_sees_what_was_wrong()
    {
        await using var broker = await StartTlsBrokerAsync();
        var seen = new List<SslPolicyErrors>();
        using var server = System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadCertificateFromFile(_certificates.ServerCertificatePath);
        var pinned = server.GetCertHashString();
        var lenient = new ChatClientTlsOptions
        {
            // Pinning: this very certificate, whoever issued it.
            RemoteCertificateValidation = (_, certificate, _, errors) =>
            {
                seen.Add(errors);
                return certificate?.GetCertHashString() == pinned;
            },
        };
        var strict = new ChatClientTlsOptions { RemoteCertificateValidation = (_, _, _, _) => false };

        await using (var connected = await ChatClient.ConnectAsync(broker.LocalEndPoint, "alice", ChatClientOptions.Default with { Tls = lenient }).WaitAsync(Deadline))
        {
            Assert.That(seen, Is.EqualTo(new[] { SslPolicyErrors.RemoteCertificateChainErrors }));
        }

        var refused = Assert.ThrowsAsync<ChatConnectionException>(async () =>
            await ChatClient.ConnectAsync(broker.LocalEndPoint, "bob", ChatClientOptions.Default with { Tls = _certificates.ClientTls() with { RemoteCertificateValidation = (_, _, _, _) => false } }).WaitAsync(Deadline));
        Assert.That(refused!.Message, Does.EndWith("TLS: the server's certificate was refused by the RemoteCertificateValidation callback"));

        var both = Assert.ThrowsAsync<ChatConnectionException>(async () =>
            await ChatClient.ConnectAsync(broker.LocalEndPoint, "carol", ChatClientOptions.Default with { Tls = strict }).WaitAsync(Deadline));
        Assert.That(both!.Message, Does.EndWith("TLS: the server's certificate is not trusted (RemoteCertificateChainErrors: PartialChain)"));
    }

    [Test]
    public async Task A_plain_client_is_told_that_TLS_is_required_and_nothing_else_is_disturbed()
    {
        var logs = new RecordingLoggerFactory();
        await using var broker = await StartTlsBrokerAsync(options => options with { LoggerFactory = logs });
        await using var alice = await ChatClient.ConnectAsync(broker.LocalEndPoint, "alice", ChatClientOptions.Default with { Tls = _certificates.ClientTls() }).WaitAsync(Deadline);
        var heard = ReadChatsAsync(alice, "alice", count: 1);

        var refused = Assert.ThrowsAsync<ChatHandshakeException>(async () =>
            await ChatClient.ConnectAsync(broker.LocalEndPoint, "plain").WaitAsync(Deadline));
        Assert.That(refused!.ServerMessage, Is.EqualTo("this broker requires TLS"));

        // Garbage that is not even a line, and a peer that leaves at once: closed, nothing else.
        await using (var garbage = await RawClient.ConnectAsync(broker.LocalEndPoint))
        {
            await garbage.SendAsync(new byte[] { 0, 1, 2, 3, 0xff });
            await garbage.WaitForClosedAsync();
        }

        using (var leaver = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            await leaver.ConnectAsync(broker.LocalEndPoint).WaitAsync(Deadline);
        }

        await WaitForLogAsync(logs, entry => entry.Message.Contains("TLS handshake failed", StringComparison.Ordinal), 3);
        var failures = logs.Entries.Select(entry => entry.Message).Where(message => message.Contains("TLS handshake failed", StringComparison.Ordinal)).ToList();
        Assert.That(
            (failures.Count(message => message.EndsWith("plain text instead of TLS (told that TLS is required)", StringComparison.Ordinal)),
                failures.Count(message => message.EndsWith("closed before the TLS handshake", StringComparison.Ordinal))),
            Is.EqualTo((2, 1)),
            string.Join(" | ", failures));

        await alice.SendAsync("unbothered");
        Assert.That(await heard.WaitAsync(Deadline), Is.EqualTo(new[] { "unbothered" }));
        Assert.That(broker.Participants, Is.EqualTo(new[] { "alice" }));
    }

    [Test]
    public async Task A_connection_that_never_starts_its_TLS_handshake_is_closed_after_the_handshake_timeout()
    {
        var logs = new RecordingLoggerFactory();
        await using var broker = await StartTlsBrokerAsync(options => options with { HandshakeTimeout = TimeSpan.FromMilliseconds(300), LoggerFactory = logs });
        await using var silent = await RawClient.ConnectAsync(broker.LocalEndPoint);

        Assert.That(await silent.WaitForClosedAsync(), Is.Empty);
        await WaitForLogAsync(logs, entry => entry.Message.EndsWith("TLS handshake failed: no TLS handshake within 0.3 s", StringComparison.Ordinal), 1);
    }

    [Test]
    public async Task Handshakes_in_progress_are_bounded_by_max_clients_and_each_frees_its_place()
    {
        var logs = new RecordingLoggerFactory();
        await using var broker = await StartTlsBrokerAsync(options => options with { MaxClients = 2, HandshakeTimeout = TimeSpan.FromMinutes(1), LoggerFactory = logs });
        var silent = new List<Socket>();
        try
        {
            for (var i = 0; i < 2; i++)
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                silent.Add(socket);
                await socket.ConnectAsync(broker.LocalEndPoint).WaitAsync(Deadline);
            }

            // Two silent connections hold both places (the accept loop counts them in order), so
            // a third is closed at once, before any handshake.
            await WaitUntilAsync(() => logs.Entries.Count(entry => entry.Message.Contains("accepted from", StringComparison.Ordinal)) >= 2, "two accepts");
            await using (var third = await RawClient.ConnectAsync(broker.LocalEndPoint))
            {
                Assert.That(await third.WaitForClosedAsync(), Is.Empty);
            }

            await WaitForLogAsync(logs, entry => entry.Message.EndsWith("TLS handshake failed: too many TLS handshakes in progress", StringComparison.Ordinal), 1);
        }
        finally
        {
            foreach (var socket in silent)
            {
                socket.Dispose();
            }
        }

        await WaitForLogAsync(logs, entry => entry.Message.EndsWith("TLS handshake failed: closed before the TLS handshake", StringComparison.Ordinal), 2);
        await using var alice = await ChatClient.ConnectAsync(broker.LocalEndPoint, "alice", ChatClientOptions.Default with { Tls = _certificates.ClientTls() }).WaitAsync(Deadline);
        await using var bob = await ChatClient.ConnectAsync(broker.LocalEndPoint, "bob", ChatClientOptions.Default with { Tls = _certificates.ClientTls() }).WaitAsync(Deadline);
        Assert.That(broker.Participants, Is.EqualTo(new[] { "alice", "bob" }));
    }

    [Test]
    public async Task A_TLS_client_against_a_plain_broker_fails_with_one_line()
    {
        await using var broker = await TestBroker.StartAsync(options => options with { HandshakeTimeout = TimeSpan.FromMilliseconds(500) });

        var failed = Assert.ThrowsAsync<ChatConnectionException>(async () =>
            await ChatClient.ConnectAsync(broker.LocalEndPoint, "alice", ChatClientOptions.Default with { Tls = _certificates.ClientTls() }).WaitAsync(Deadline));

        Assert.That(failed!.Message, Does.StartWith($"could not connect to {broker.LocalEndPoint}: TLS handshake failed: "));
        Assert.That(failed.Message, Does.Not.Contain('\n'));
    }

    [Test]
    public async Task A_reconnect_comes_back_over_TLS()
    {
        var clock = new TestScheduler();
        await using var broker = await StartTlsBrokerAsync();
        await using var proxy = TcpProxy.Start(broker.LocalEndPoint);
        var options = new ChatClientOptions
        {
            Capabilities = ChatCapabilities.All,
            Tls = _certificates.ClientTls(),
            Reconnect = new ChatReconnectPolicy { Scheduler = clock, Jitter = 0 },
        };
        await using var alice = await ChatClient.ConnectAsync(proxy.EndPoint, "alice", options).WaitAsync(Deadline);
        using var states = new StatusLog(alice);
        var dev = await alice.JoinAsync("dev").WaitAsync(Deadline);
        var seen = ReadRoomAsync(dev, count: 1);

        proxy.CutClients();
        await states.WaitForAsync(ChatConnectionState.Reconnecting, 1);
        clock.AdvanceBy(TimeSpan.FromSeconds(1).Ticks);
        await states.WaitForAsync(ChatConnectionState.Connected, 1);

        await using var bob = await ChatClient.ConnectAsync(broker.LocalEndPoint, "bob", options with { Reconnect = null }).WaitAsync(Deadline);
        var bobDev = await bob.JoinAsync("dev").WaitAsync(Deadline);
        var bobSeen = ReadRoomAsync(bobDev, count: 2);
        await bobDev.SendAsync("to alice, again over TLS");
        Assert.That(await seen.WaitAsync(Deadline), Is.EqualTo(new[] { "to alice, again over TLS" }));
        await dev.SendAsync("and back");
        Assert.That(await bobSeen.WaitAsync(Deadline), Is.EqualTo(new[] { "to alice, again over TLS", "and back" }));
    }

    [Test]
    public async Task Stopping_a_TLS_broker_says_so_to_its_clients_over_TLS()
    {
        var broker = await StartTlsBrokerAsync();
        await using var alice = await ChatClient.ConnectAsync(broker.LocalEndPoint, "alice", ChatClientOptions.Default with { Tls = _certificates.ClientTls() }).WaitAsync(Deadline);
        var errors = alice.ReadMessagesAsync().OfType<ErrorMessage>().Select(error => error.Message).ToListAsync().AsTask();

        await broker.StopAsync().WaitAsync(Deadline);

        Assert.That(await errors.WaitAsync(Deadline), Is.EqualTo(new[] { "broker shutting down" }));
        Assert.That(await alice.Completion.WaitAsync(Deadline), Is.EqualTo(ChatClientCloseReason.ClosedByServer));
    }

    private Task<ChatBroker> StartTlsBrokerAsync(Func<BrokerOptions, BrokerOptions>? configure = null) =>
        TestBroker.StartAsync(options => (configure?.Invoke(options) ?? options) with { Tls = _certificates.BrokerTls() });

    private async Task<SslStream> RawTlsAsync(Socket socket, string serverName)
    {
        var stream = new SslStream(new NetworkStream(socket, ownsSocket: false), leaveInnerStreamOpen: false);
        var authorities = ChatClientTlsOptions.LoadPemCertificates(_certificates.CaPath);
        var policy = new System.Security.Cryptography.X509Certificates.X509ChainPolicy
        {
            TrustMode = System.Security.Cryptography.X509Certificates.X509ChainTrustMode.CustomRootTrust,
            RevocationMode = System.Security.Cryptography.X509Certificates.X509RevocationMode.NoCheck,
        };
        policy.CustomTrustStore.Add(authorities[0]);
        await stream.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = serverName,
            CertificateChainPolicy = policy,
        }).WaitAsync(Deadline);
        return stream;
    }

    private static async Task<string?> ReadUntilChatAsync(StreamReader reader)
    {
        while (await reader.ReadLineAsync().WaitAsync(Deadline) is { } line)
        {
            if (line.Contains("\"type\":\"chat\"", StringComparison.Ordinal))
            {
                return line;
            }
        }

        return null;
    }

    private static Task<string[]> ReadChatsAsync(ChatClient client, string from, int count) =>
        client.ReadMessagesAsync()
            .OfType<ChatBroadcastMessage>()
            .Where(chat => chat.Nickname == from)
            .Take(count)
            .Select(chat => chat.Text)
            .ToArrayAsync()
            .AsTask();

    private static Task<string[]> ReadRoomAsync(ChatRoom room, int count) =>
        room.ReadMessagesAsync().Take(count).Select(chat => chat.Text).ToArrayAsync().AsTask();

    private static List<RecordingLoggerFactory.LogEntry> TlsFailures(RecordingLoggerFactory logs) =>
        [.. logs.Entries.Where(entry => entry.Message.Contains("TLS handshake failed", StringComparison.Ordinal))];

    private static Task WaitForLogAsync(RecordingLoggerFactory logs, Func<RecordingLoggerFactory.LogEntry, bool> match, int count) =>
        WaitUntilAsync(() => logs.Entries.Count(match) >= count, $"{count} matching log lines; got: {string.Join(" | ", logs.Entries.Select(entry => entry.Message))}");

    // Logs have no event to wait on: poll them, within the deadline.
    private static async Task WaitUntilAsync(Func<bool> condition, string description)
    {
        var deadline = DateTime.UtcNow + Deadline;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"waited in vain for {description}");
            }

            await Task.Delay(20);
        }
    }
}
