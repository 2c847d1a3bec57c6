using System.Net;

namespace LocalChatMesh.Tests.Support;

/// <summary>Starts a real broker on 127.0.0.1 with a port the system picks, one per test.</summary>
internal static class TestBroker
{
    /// <summary>The defaults on loopback port 0; tests change only the limits they exercise.</summary>
    public static BrokerOptions Options { get; } = BrokerOptions.Default with { EndPoint = new IPEndPoint(IPAddress.Loopback, 0) };

    public static Task<ChatBroker> StartAsync(Func<BrokerOptions, BrokerOptions>? configure = null) =>
        ChatBroker.StartAsync(configure is null ? Options : configure(Options));
}
