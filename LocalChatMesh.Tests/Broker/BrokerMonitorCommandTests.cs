using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.RegularExpressions;
using LocalChatMesh.Tests.Support;

namespace LocalChatMesh.Tests.Broker;

/// <summary><c>chatmesh broker --monitor</c> run as a real process, scraped as Prometheus would.</summary>
public partial class BrokerMonitorCommandTests
{
    [Test]
    public async Task The_monitor_address_is_the_second_line_and_serves_health_and_the_chats_metrics()
    {
        await using var broker = CliProcess.Start("broker", "--listen", "127.0.0.1:0", "--monitor", "127.0.0.1:0");
        var brokerPort = (await broker.WaitForBrokerAddressAsync()).Port;
        var monitorLine = await broker.WaitForOutputLineAsync(line => line.StartsWith("monitor listening on", StringComparison.Ordinal), "the monitor line");
        Assert.That(broker.OutputLines, Is.EqualTo(new[] { $"broker listening on 127.0.0.1:{brokerPort}", monitorLine }), "the broker banner stays first");
        var monitorPort = Port(monitorLine, MonitorBanner());
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{monitorPort}"), Timeout = CliProcess.Deadline };

        await using (var alice = await RawClient.JoinAsync(new IPEndPoint(IPAddress.Loopback, brokerPort), "alice"))
        {
            await alice.SendChatAsync("one");
            await alice.ExpectChatAsync("alice", "one");
            await alice.SendChatAsync("two");
            await alice.ExpectChatAsync("alice", "two");

            using var health = await http.GetAsync("/healthz");
            using var json = JsonDocument.Parse(await health.Content.ReadAsStringAsync());
            Assert.That(health.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(json.RootElement.GetProperty("checks").GetProperty("broker").GetProperty("detail").GetString(), Is.EqualTo($"listening on 127.0.0.1:{brokerPort}; connections 1, joined 1"));

            var metrics = PrometheusText.Parse(await http.GetStringAsync("/metrics"));
            Assert.That(metrics.Value("chatmesh_messages_received_total"), Is.EqualTo(3), "a hello and two chats");
            Assert.That(metrics.Value("chatmesh_messages_delivered_total"), Is.EqualTo(3), "a welcome and two chats");
            Assert.That(metrics.Types, Does.ContainKey("dotnet_gc_collections_total"));
        }

        using var notFound = await http.GetAsync("/nothing");
        Assert.That(notFound.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));

        await broker.SignalAsync("TERM");
        Assert.That(await broker.WaitForExitAsync(), Is.Zero, string.Join("\n", broker.ErrorLines));
        Assert.That(broker.ErrorLines, Has.Some.Contains($"monitor listening on http://127.0.0.1:{monitorPort}"));
    }

    [TestCase("nonsense", "error: --monitor: 'nonsense' is not an address of the form HOST:PORT, such as 127.0.0.1:5000")]
    [TestCase("127.0.0.1:70000", "error: --monitor: '70000' is not a port number from 0 to 65535")]
    [TestCase("0.0.0.0:0", "error: --monitor: 0.0.0.0 is not a loopback address: the metrics would be reachable from other machines. Pass --allow-remote to listen there.")]
    public async Task A_bad_monitor_address_is_a_usage_error_on_one_line(string monitor, string expected)
    {
        await using var broker = CliProcess.Start("broker", "--listen", "127.0.0.1:0", "--monitor", monitor);

        Assert.That(await broker.WaitForExitAsync(), Is.EqualTo(2));
        Assert.That(broker.ErrorLines, Is.EqualTo(new[] { expected }));
        Assert.That(broker.OutputLines, Is.Empty);
    }

    [Test]
    public async Task A_monitor_port_in_use_exits_1_with_one_line_before_the_broker_starts()
    {
        using var taken = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        taken.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        taken.Listen();
        var address = taken.LocalEndPoint!.ToString()!;

        await using var broker = CliProcess.Start("broker", "--listen", "127.0.0.1:0", "--monitor", address);

        Assert.That(await broker.WaitForExitAsync(), Is.EqualTo(1));
        Assert.That(broker.ErrorLines, Has.Count.EqualTo(1));
        Assert.That(broker.ErrorLines[0], Does.StartWith($"error: --monitor: cannot listen on {address}: ").And.Contain("in use"));
        Assert.That(broker.OutputLines, Is.Empty);
    }

    private static int Port(string line, Regex banner) =>
        int.Parse(banner.Match(line).Groups[1].Value, CultureInfo.InvariantCulture);

    [GeneratedRegex(@"^monitor listening on 127\.0\.0\.1:([0-9]+)$")]
    private static partial Regex MonitorBanner();
}
