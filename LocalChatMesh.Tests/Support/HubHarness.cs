using LocalChatMesh.Protocol;
using LocalChatMesh.Testing;
using Microsoft.Reactive.Testing;

namespace LocalChatMesh.Tests.Support;

/// <summary>
/// An <see cref="InMemoryBroker"/> on a <see cref="TestScheduler"/> that records its events:
/// no sockets, no threads, and time moves only when a test says so.
/// </summary>
internal sealed class HubHarness : IDisposable
{
    public HubHarness(Func<BrokerOptions, BrokerOptions>? configure = null)
    {
        Broker = new InMemoryBroker(configure?.Invoke(BrokerOptions.Default) ?? BrokerOptions.Default, Scheduler);
        Broker.Events.Subscribe(Events.Add);
    }

    public TestScheduler Scheduler { get; } = new();

    public InMemoryBroker Broker { get; }

    public List<BrokerEvent> Events { get; } = [];

    public InMemoryConnection Connect() => Broker.Connect();

    /// <summary>Connects, says hello and checks the welcome.</summary>
    public InMemoryConnection Join(string nickname, string? token = null)
    {
        var connection = Connect();
        connection.Send(new HelloMessage(nickname) { Token = token });
        var received = connection.Received;
        Assert.That(received.Count > 0 ? received[0] : null, Is.EqualTo(new WelcomeMessage(nickname.Trim())), $"{nickname} should be welcomed");
        return connection;
    }

    public void Advance(TimeSpan time) => Scheduler.AdvanceBy(time.Ticks);

    public void Dispose() => Broker.Dispose();
}

internal static class InMemoryConnectionExtensions
{
    public static void Chat(this InMemoryConnection connection, string text) => connection.Send(new ChatMessage(text));

    public static bool IsOpen(this InMemoryConnection connection) => !connection.IsClosed;

    /// <summary>What was received so far, forgetting it, so the next assertion sees only what follows.</summary>
    public static List<ServerMessage> TakeReceived(this InMemoryConnection connection)
    {
        var received = connection.Received.ToList();
        connection.ClearReceived();
        return received;
    }
}
