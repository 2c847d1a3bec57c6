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

    /// <summary>Connects as a version 2 client (every capability unless told otherwise) and checks the welcome.</summary>
    public InMemoryConnection JoinV2(string nickname, IReadOnlyList<string>? capabilities = null, string? session = null)
    {
        var connection = Connect();
        connection.Send(new HelloMessage(nickname) { Capabilities = capabilities ?? ChatCapabilities.All, Session = session });
        var received = connection.Received;
        Assert.That(received.Count > 0 ? received[0] : null, Is.TypeOf<WelcomeMessage>().And.Property(nameof(WelcomeMessage.Nickname)).EqualTo(nickname), $"{nickname} should be welcomed");
        return connection;
    }

    public void Advance(TimeSpan time) => Scheduler.AdvanceBy(time.Ticks);

    /// <summary>The broker's history epoch, as a joined message to <paramref name="probe"/> (granted history) reports it.</summary>
    public static string EpochOf(InMemoryConnection probe)
    {
        probe.JoinRoom("epoch-probe");
        var joined = probe.Received.OfType<JoinedMessage>().Last();
        probe.Send(new LeaveMessage("epoch-probe"));
        probe.ClearReceived();
        return joined.Epoch!;
    }

    public void Dispose() => Broker.Dispose();
}

internal static class InMemoryConnectionExtensions
{
    public static void Chat(this InMemoryConnection connection, string text) => connection.Send(new ChatMessage(text));

    public static bool IsOpen(this InMemoryConnection connection) => !connection.IsClosed;

    public static void Chat(this InMemoryConnection connection, string room, string text) => connection.Send(new ChatMessage(text) { Room = room });

    public static void JoinRoom(this InMemoryConnection connection, string room, int? history = null, long? after = null, string? epoch = null) =>
        connection.Send(new JoinMessage(room) { History = history, After = after, Epoch = epoch });

    public static WelcomeMessage Welcome(this InMemoryConnection connection) => (WelcomeMessage)connection.Received[0];

    /// <summary>The frames received so far as the exact text on the wire, one line each without the newline.</summary>
    public static List<string> Lines(this InMemoryConnection connection) =>
        [.. connection.Frames.Select(frame => System.Text.Encoding.UTF8.GetString(frame, 0, frame.Length - 1))];

    /// <summary>What was received so far, forgetting it, so the next assertion sees only what follows.</summary>
    public static List<ServerMessage> TakeReceived(this InMemoryConnection connection)
    {
        var received = connection.Received.ToList();
        connection.ClearReceived();
        return received;
    }
}
