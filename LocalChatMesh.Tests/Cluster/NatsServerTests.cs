namespace LocalChatMesh.Tests.Cluster;

/// <summary>A fixture with a nats-server of its own, started once for its tests (each test uses a cluster name of its own).</summary>
public abstract class NatsServerTests
{
    private protected NatsServerFixture Server { get; private set; } = null!;

    [OneTimeSetUp]
    public async Task StartServer() => Server = await NatsServerFixture.StartNewAsync();

    [OneTimeTearDown]
    public async Task StopServer() => await Server.DisposeAsync();
}
