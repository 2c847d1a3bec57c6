using LocalChatMesh.Cluster;
using System.Net;
using System.Net.Sockets;
using LocalChatMesh.Cluster.Nats;

namespace LocalChatMesh.Tests.Cluster;

/// <summary>Start-up: an unreachable NATS server is one clear error; bad options are named.</summary>
public sealed class ClusterConnectTests
{
    [Test]
    public void Nats_unreachable_at_start_up_is_a_clear_error()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();

        var options = new NatsClusterOptions { Url = $"nats://127.0.0.1:{port}", ConnectTimeout = TimeSpan.FromSeconds(1) };

        Assert.That(async () => await NatsClusterEngine.ConnectAsync(options), Throws.TypeOf<ClusterUnavailableException>().With.Message.Contains($"nats://127.0.0.1:{port}"));
    }

    [TestCase("Chat Mesh")]
    [TestCase("")]
    [TestCase("a.b")]
    public void A_cluster_name_that_cannot_be_a_subject_token_is_refused(string name) =>
        Assert.That(async () => await NatsClusterEngine.ConnectAsync(new NatsClusterOptions { ClusterName = name }), Throws.ArgumentException.With.Message.Contains("ClusterName"));

    [Test]
    public void A_heartbeat_timeout_shorter_than_two_renewals_is_refused() =>
        Assert.That(
            async () => await NatsClusterEngine.ConnectAsync(new NatsClusterOptions { HeartbeatInterval = TimeSpan.FromSeconds(2), HeartbeatTimeout = TimeSpan.FromSeconds(3) }),
            Throws.InstanceOf<ArgumentOutOfRangeException>().With.Message.Contains("HeartbeatTimeout"));
}
