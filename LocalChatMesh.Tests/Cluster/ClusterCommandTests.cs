using System.Net;
using System.Text.Json;
using LocalChatMesh.Tests.Support;
using static LocalChatMesh.Tests.Cluster.ClusterTesting;

namespace LocalChatMesh.Tests.Cluster;

/// <summary><c>chatmesh broker --cluster</c> as a real process: its errors, and its health with <c>--monitor</c>.</summary>
public sealed class ClusterCommandTests
{
    [Test]
    public async Task The_clusters_connectivity_is_a_health_check_that_fails_while_nats_is_away()
    {
        await using var server = await NatsServerFixture.StartNewAsync();
        await using var broker = CliProcess.Start("broker", "--listen", "127.0.0.1:0", "--monitor", "127.0.0.1:0", "--cluster", server.Url, "--cluster-name", NewClusterName());
        await broker.WaitForOutputLineAsync(line => line.StartsWith("broker listening on", StringComparison.Ordinal), "the broker banner");
        var monitorLine = await broker.WaitForOutputLineAsync(line => line.StartsWith("monitor listening on", StringComparison.Ordinal), "the monitor line");
        using var http = new HttpClient { BaseAddress = new Uri($"http://{monitorLine.Split(' ')[^1]}"), Timeout = CliProcess.Deadline };

        async Task<(HttpStatusCode Status, string Cluster)> HealthAsync()
        {
            using var response = await http.GetAsync("/healthz");
            using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            var check = json.RootElement.GetProperty("checks").GetProperty("cluster");
            return (response.StatusCode, $"{check.GetProperty("status").GetString()}: {check.GetProperty("detail").GetString()}");
        }

        var healthy = await HealthAsync();
        Assert.That(healthy.Status, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(healthy.Cluster, Does.StartWith("ok: connected as "));

        await server.StopAsync();
        Assert.That(await EventuallyAsync(async () => (await HealthAsync()).Status == HttpStatusCode.ServiceUnavailable), Is.True, "503 while NATS is away");
        Assert.That((await HealthAsync()).Cluster, Does.Contain("cannot reach the NATS server"));

        await server.StartAsync();
        Assert.That(await EventuallyAsync(async () => (await HealthAsync()).Status == HttpStatusCode.OK), Is.True, "healthy again once NATS is back");
    }

    [TestCase("foo", 2, "error: --cluster must be a NATS server address, as nats://HOST:PORT; it is 'foo'.")]
    [TestCase("nats://127.0.0.1:1", 1, "error: --cluster: cannot reach the NATS server at nats://127.0.0.1:1")]
    public async Task A_cluster_that_cannot_be_used_is_one_line_and_an_exit_code(string url, int exitCode, string expected)
    {
        await using var broker = CliProcess.Start("broker", "--listen", "127.0.0.1:0", "--cluster", url);

        Assert.That(await broker.WaitForExitAsync(), Is.EqualTo(exitCode));
        Assert.That(broker.ErrorLines, Has.Count.EqualTo(1).And.All.StartsWith(expected), "one line, no stack trace");
        Assert.That(broker.OutputLines, Is.Empty);
    }

    [Test]
    public async Task A_store_with_a_cluster_is_a_usage_error()
    {
        using var directory = new Storage.StoreDirectory();
        await using var broker = CliProcess.Start("broker", "--listen", "127.0.0.1:0", "--cluster", "nats://127.0.0.1:4222", "--store", directory.File());

        Assert.That(await broker.WaitForExitAsync(), Is.EqualTo(2));
        Assert.That(broker.ErrorLines, Is.EqualTo(new[] { "error: --store and --cluster cannot both be given: in a cluster, history lives in the cluster." }));
    }
}
