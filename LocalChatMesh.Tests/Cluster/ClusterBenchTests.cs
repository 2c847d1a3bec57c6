using System.Reactive.Linq;
using LocalChatMesh.Cli.Bench;

namespace LocalChatMesh.Tests.Cluster;

/// <summary><c>bench --server a,b</c>: the clients spread over the brokers of one cluster (a real nats-server).</summary>
public sealed class ClusterBenchTests : NatsServerTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);
    [TestCase(1)]
    [TestCase(3)]
    public async Task Clients_spread_over_two_brokers_get_every_message_in_order(int rooms)
    {
        await using var cluster = await ClusterOfBrokers.StartAsync(Server, 2);
        var welcomed = new int[2];
        using var first = cluster[0].Events.OfType<ClientJoinedEvent>().Subscribe(_ => Interlocked.Increment(ref welcomed[0]));
        using var second = cluster[1].Events.OfType<ClientJoinedEvent>().Subscribe(_ => Interlocked.Increment(ref welcomed[1]));

        var report = await BenchRunner.RunAsync(new BenchOptions
        {
            Mode = BrokerMode.External,
            Server = cluster[0].LocalEndPoint,
            MoreServers = [cluster[1].LocalEndPoint],
            Clients = 8,
            Senders = 4,
            Messages = 50,
            Rooms = rooms,
        }).WaitAsync(Deadline);

        Assert.That(report.Lost, Is.Zero, report.ToText());
        Assert.That(report.Clean, Is.True, report.ToText());
        Assert.That(report.Received, Is.EqualTo(report.Expected));
        Assert.That(report.Broker, Does.Contain($"{cluster[0].LocalEndPoint},{cluster[1].LocalEndPoint}"));
        Assert.That(welcomed, Is.All.EqualTo(4), "the clients took turns");
    }

    [TestCase("127.0.0.1:5000,nonsense", "--server: 'nonsense' is not an address of the form HOST:PORT, such as 127.0.0.1:5000")]
    public void A_bad_address_in_the_list_is_named(string server, string expected)
    {
        Assert.That(BrokerChoice.TryParse(server, (string?)"1,x", inProcess: false, out _, out _, out _, out var problem), Is.False);
        Assert.That(problem, Is.EqualTo(expected));
        Assert.That(BrokerChoice.TryParse("127.0.0.1:5000", (string?)"1,x", inProcess: false, out _, out _, out _, out problem), Is.False);
        Assert.That(problem, Is.EqualTo("--broker-pid: 'x' is not a process id"));
    }
}
