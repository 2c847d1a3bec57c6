using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using LocalChatMesh.Monitoring;
using LocalChatMesh.Protocol;
using LocalChatMesh.Tests.Support;

namespace LocalChatMesh.Tests.Monitoring;

/// <summary>A real broker on loopback with a monitor beside it, read over HTTP as Prometheus and a prober would.</summary>
public class ChatMonitorTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    [Test]
    public async Task Metrics_parse_as_Prometheus_text_and_count_the_chats()
    {
        await using var broker = await TestBroker.StartAsync();
        await using var monitor = StartMonitor(broker);
        using var http = Client(monitor);

        await using (var alice = await RawClient.JoinAsync(broker.LocalEndPoint, "alice"))
        await using (var bob = await RawClient.JoinAsync(broker.LocalEndPoint, "bob"))
        {
            await alice.ExpectAsync<UserJoinedMessage>();
            await bob.ExpectAsync<RosterMessage>();
            for (var i = 0; i < 3; i++)
            {
                await alice.SendChatAsync($"hello {i}");
                await alice.ExpectChatAsync("alice", $"hello {i}");
                await bob.ExpectChatAsync("alice", $"hello {i}");
            }

            using var response = await http.GetAsync("/metrics");
            var text = await response.Content.ReadAsStringAsync();
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(response.Content.Headers.ContentType?.ToString(), Is.EqualTo("text/plain; version=0.0.4; charset=utf-8"));

            var metrics = PrometheusText.Parse(text);
            Assert.Multiple(() =>
            {
                Assert.That(metrics.Types["chatmesh_messages_received_total"], Is.EqualTo("counter"));
                Assert.That(metrics.Value("chatmesh_messages_received_total"), Is.EqualTo(5), "two hellos and three chats");
                Assert.That(metrics.Value("chatmesh_handshakes_accepted_total"), Is.EqualTo(2));
                Assert.That(metrics.Value("chatmesh_connections_accepted_total"), Is.EqualTo(2));
                Assert.That(metrics.Value("chatmesh_connections"), Is.EqualTo(2));
                Assert.That(metrics.Types["chatmesh_connections"], Is.EqualTo("gauge"));
                Assert.That(metrics.Value("chatmesh_bytes_received_total"), Is.GreaterThan(100));
                Assert.That(metrics.Value("chatmesh_deliveries_dropped_total"), Is.Zero, "announced at 0 before it ever moves");
                Assert.That(metrics.Value("chatmesh_health", ("check", "broker")), Is.EqualTo(1));
                Assert.That(metrics.Value("dotnet_process_memory_working_set_bytes"), Is.GreaterThan(1024 * 1024), "the runtime's meter");
                Assert.That(metrics.Types["dotnet_thread_pool_thread_count"], Is.EqualTo("gauge"));
                Assert.That(metrics.Samples.Select(sample => sample.Family).Distinct(), Is.All.Matches<string>(family => metrics.Types.ContainsKey(family)));
            });
        }

        // Bob's and Alice's goodbyes are counted once the broker has seen them. Their reason is
        // client_closed, or transport_error when a close with unread data (Bob's user_left) resets.
        var seen = "";
        await WaitUntilAsync(
            async () =>
            {
                var metrics = PrometheusText.Parse(await http.GetStringAsync("/metrics"));
                var disconnects = metrics.Samples.Where(s => s.Name == "chatmesh_disconnects_total").ToList();
                seen = string.Join("; ", disconnects) + $"; connections {metrics.Value("chatmesh_connections")}";
                return disconnects.Sum(s => s.Value) == 2 && metrics.Value("chatmesh_connections") == 0;
            },
            () => seen);
    }

    [Test]
    public async Task Healthz_is_200_with_each_check_while_all_pass()
    {
        await using var broker = await TestBroker.StartAsync();
        await using var monitor = StartMonitor(broker);
        monitor.AddHealthCheck("cluster", () => HealthCheckResult.Healthy("connected"));
        using var http = Client(monitor);
        await using var alice = await RawClient.JoinAsync(broker.LocalEndPoint, "alice");

        using var response = await http.GetAsync("/healthz");
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(response.Content.Headers.ContentType?.MediaType, Is.EqualTo("application/json"));
        var root = json.RootElement;
        Assert.Multiple(() =>
        {
            Assert.That(root.GetProperty("status").GetString(), Is.EqualTo("ok"));
            Assert.That(root.GetProperty("checks").GetProperty("broker").GetProperty("status").GetString(), Is.EqualTo("ok"));
            Assert.That(root.GetProperty("checks").GetProperty("broker").GetProperty("detail").GetString(), Is.EqualTo($"listening on {broker.LocalEndPoint}; connections 1, joined 1"));
            Assert.That(root.GetProperty("checks").GetProperty("cluster").GetProperty("detail").GetString(), Is.EqualTo("connected"));
            Assert.That(monitor.HealthChecks, Is.EqualTo(new[] { "broker", "cluster" }));
        });
    }

    [Test]
    public async Task One_failing_check_makes_healthz_503_and_names_it()
    {
        await using var broker = await TestBroker.StartAsync();
        await using var monitor = StartMonitor(broker);
        var connected = true;
        monitor.AddHealthCheck("cluster", () => Volatile.Read(ref connected) ? HealthCheckResult.Healthy("connected") : HealthCheckResult.Unhealthy("disconnected"));
        monitor.AddHealthCheck("flaky", () => throw new InvalidOperationException("no answer"));
        using var http = Client(monitor);

        using var response = await http.GetAsync("/healthz");
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Volatile.Write(ref connected, false);
        using var second = await http.GetAsync("/healthz");
        using var secondJson = JsonDocument.Parse(await second.Content.ReadAsStringAsync());
        var metrics = PrometheusText.Parse(await http.GetStringAsync("/metrics"));

        Assert.Multiple(() =>
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable));
            Assert.That(json.RootElement.GetProperty("status").GetString(), Is.EqualTo("failing"));
            var flaky = json.RootElement.GetProperty("checks").GetProperty("flaky");
            Assert.That(flaky.GetProperty("status").GetString(), Is.EqualTo("failing"));
            Assert.That(flaky.GetProperty("detail").GetString(), Is.EqualTo("the check threw InvalidOperationException: no answer"));
            Assert.That(json.RootElement.GetProperty("checks").GetProperty("cluster").GetProperty("status").GetString(), Is.EqualTo("ok"));

            Assert.That(second.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable));
            var cluster = secondJson.RootElement.GetProperty("checks").GetProperty("cluster");
            Assert.That(cluster.GetProperty("status").GetString(), Is.EqualTo("failing"));
            Assert.That(cluster.GetProperty("detail").GetString(), Is.EqualTo("disconnected"));
            Assert.That(secondJson.RootElement.GetProperty("checks").GetProperty("broker").GetProperty("status").GetString(), Is.EqualTo("ok"));

            Assert.That(metrics.Value("chatmesh_health", ("check", "cluster")), Is.Zero);
            Assert.That(metrics.Value("chatmesh_health", ("check", "flaky")), Is.Zero);
            Assert.That(metrics.Value("chatmesh_health", ("check", "broker")), Is.EqualTo(1));
        });
    }

    [Test]
    public async Task A_stopped_broker_fails_its_check_and_leaves_the_metrics()
    {
        var broker = await TestBroker.StartAsync();
        await using var monitor = StartMonitor(broker);
        using var http = Client(monitor);
        await broker.StopAsync();

        using var response = await http.GetAsync("/healthz");
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var metrics = PrometheusText.Parse(await http.GetStringAsync("/metrics"));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable));
        Assert.That(json.RootElement.GetProperty("checks").GetProperty("broker").GetProperty("detail").GetString(), Is.EqualTo("stopped"));
        Assert.That(metrics.Types.Keys, Has.None.StartsWith("chatmesh_messages"), "the broker's meter is disposed with it");
        Assert.That(metrics.Value("chatmesh_health", ("check", "broker")), Is.Zero);
    }

    [Test]
    public async Task A_monitor_started_before_its_broker_says_starting_until_the_broker_is_added()
    {
        await using var monitor = ChatMonitor.Start();
        monitor.ExpectBroker();
        monitor.ExpectBroker();
        using var http = Client(monitor);

        using var before = await http.GetAsync("/healthz");
        using var beforeJson = JsonDocument.Parse(await before.Content.ReadAsStringAsync());
        await using var broker = await TestBroker.StartAsync();
        monitor.AddBroker(broker);
        using var after = await http.GetAsync("/healthz");

        Assert.That(before.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable));
        Assert.That(beforeJson.RootElement.GetProperty("checks").GetProperty("broker").GetProperty("detail").GetString(), Is.EqualTo("starting"));
        Assert.That(after.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(monitor.HealthChecks, Is.EqualTo(new[] { "broker" }));
    }

    [TestCase("/", HttpStatusCode.NotFound)]
    [TestCase("/metrics/", HttpStatusCode.NotFound)]
    [TestCase("/varz", HttpStatusCode.NotFound)]
    [TestCase("/healthz?verbose=1", HttpStatusCode.OK)]
    [TestCase("/metrics?x", HttpStatusCode.OK)]
    public async Task Only_the_two_paths_are_served(string path, HttpStatusCode expected)
    {
        await using var broker = await TestBroker.StartAsync();
        await using var monitor = StartMonitor(broker);
        using var http = Client(monitor);

        using var response = await http.GetAsync(path);

        Assert.That(response.StatusCode, Is.EqualTo(expected));
    }

    [Test]
    public async Task Other_methods_are_405_and_HEAD_has_no_body()
    {
        await using var monitor = ChatMonitor.Start();
        using var http = Client(monitor);

        using var post = await http.PostAsync("/metrics", new StringContent("x"));
        using var head = await http.SendAsync(new HttpRequestMessage(HttpMethod.Head, "/healthz"));
        var headBody = await head.Content.ReadAsByteArrayAsync();

        Assert.That(post.StatusCode, Is.EqualTo(HttpStatusCode.MethodNotAllowed));
        Assert.That(post.Content.Headers.Allow, Is.EquivalentTo(new[] { "GET", "HEAD" }));
        Assert.That(head.StatusCode, Is.EqualTo(HttpStatusCode.OK), "no checks: nothing fails");
        Assert.That(headBody, Is.Empty);
        Assert.That(head.Content.Headers.ContentLength, Is.GreaterThan(0));
    }

    [Test]
    public async Task Garbage_and_oversized_requests_get_an_error_status_not_a_hang()
    {
        await using var monitor = ChatMonitor.Start();

        var garbage = await RawExchangeAsync(monitor.LocalEndPoint, "hello there\r\n\r\n");
        var huge = await RawExchangeAsync(monitor.LocalEndPoint, "GET /metrics HTTP/1.1\r\nX-Big: " + new string('a', 10_000) + "\r\n\r\n");
        var bareLf = await RawExchangeAsync(monitor.LocalEndPoint, "GET /healthz HTTP/1.0\n\n");

        Assert.That(garbage, Does.StartWith("HTTP/1.1 400 "));
        Assert.That(huge, Does.StartWith("HTTP/1.1 431 "));
        Assert.That(bareLf, Does.StartWith("HTTP/1.1 200 "));
        Assert.That(bareLf, Does.EndWith("{\"status\":\"ok\",\"checks\":{}}\n"));
    }

    [Test]
    public async Task A_non_loopback_address_is_refused_unless_allowed_and_a_taken_port_throws()
    {
        using var taken = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        taken.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        taken.Listen();

        Assert.That(
            () => ChatMonitor.Start(MonitorOptions.Default with { EndPoint = new IPEndPoint(IPAddress.Any, 0) }),
            Throws.ArgumentException.With.Message.Contains("0.0.0.0 is not a loopback address"));
        Assert.That(
            () => ChatMonitor.Start(MonitorOptions.Default with { EndPoint = (IPEndPoint)taken.LocalEndPoint! }),
            Throws.TypeOf<SocketException>().With.Property(nameof(SocketException.SocketErrorCode)).EqualTo(SocketError.AddressAlreadyInUse));
        await using var anywhere = ChatMonitor.Start(MonitorOptions.Default with { EndPoint = new IPEndPoint(IPAddress.Any, 0), AllowNonLoopback = true });
        Assert.That(anywhere.LocalEndPoint.Port, Is.Not.Zero);
    }

    [Test]
    public async Task Check_names_are_unique_and_one_broker_per_monitor()
    {
        await using var broker = await TestBroker.StartAsync();
        await using var monitor = StartMonitor(broker);

        Assert.That(() => monitor.AddHealthCheck("broker", () => HealthCheckResult.Healthy()), Throws.ArgumentException);
        Assert.That(() => monitor.AddHealthCheck(" ", () => HealthCheckResult.Healthy()), Throws.ArgumentException);
        Assert.That(() => monitor.AddBroker(broker), Throws.InvalidOperationException);
    }

    [Test]
    public async Task Two_monitors_in_one_process_each_count_only_their_own_broker()
    {
        await using var first = await TestBroker.StartAsync();
        await using var second = await TestBroker.StartAsync();
        await using var firstMonitor = StartMonitor(first);
        await using var secondMonitor = StartMonitor(second);
        using var http = Client(firstMonitor);
        using var otherHttp = Client(secondMonitor);

        await using (var alice = await RawClient.JoinAsync(second.LocalEndPoint, "alice"))
        {
            await alice.SendChatAsync("only on the second");
            await alice.ExpectChatAsync("alice", "only on the second");
        }

        var firstMetrics = PrometheusText.Parse(await http.GetStringAsync("/metrics"));
        var secondMetrics = PrometheusText.Parse(await otherHttp.GetStringAsync("/metrics"));
        Assert.That(firstMetrics.Value("chatmesh_messages_received_total"), Is.Zero);
        Assert.That(secondMetrics.Value("chatmesh_messages_received_total"), Is.EqualTo(2));
    }

    [Test]
    public async Task Disposing_stops_serving()
    {
        var monitor = ChatMonitor.Start();
        var endPoint = monitor.LocalEndPoint;
        await monitor.DisposeAsync();

        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        Assert.That(async () => await socket.ConnectAsync(endPoint).WaitAsync(Deadline), Throws.InstanceOf<SocketException>());
    }

    private static ChatMonitor StartMonitor(ChatBroker broker)
    {
        var monitor = ChatMonitor.Start();
        monitor.AddBroker(broker);
        return monitor;
    }

    private static HttpClient Client(ChatMonitor monitor) =>
        new() { BaseAddress = new Uri($"http://{monitor.LocalEndPoint}"), Timeout = Deadline };

    private static async Task<string> RawExchangeAsync(IPEndPoint endPoint, string request)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        using var timeout = new CancellationTokenSource(Deadline);
        await socket.ConnectAsync(endPoint, timeout.Token);
        await socket.SendAsync(Encoding.ASCII.GetBytes(request), timeout.Token);
        socket.Shutdown(SocketShutdown.Send);
        var received = new MemoryStream();
        var buffer = new byte[4096];
        int read;
        while ((read = await socket.ReceiveAsync(buffer, timeout.Token)) > 0)
        {
            received.Write(buffer, 0, read);
        }

        return Encoding.UTF8.GetString(received.ToArray());
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> condition, Func<string> lastSeen)
    {
        var deadline = DateTime.UtcNow + Deadline;
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"the condition did not hold within the deadline; last seen: {lastSeen()}");
            }

            await Task.Delay(20);
        }
    }
}
