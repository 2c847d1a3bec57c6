using System.Net;
using LocalChatMesh.Protocol;
using LocalChatMesh.Tests.Support;

namespace LocalChatMesh.Tests.Broker;

public class EventsTests
{
    [Test]
    public async Task Events_report_connections_joins_chats_errors_and_why_each_connection_ended()
    {
        await using var broker = await TestBroker.StartAsync(o => o with { MaxLineLength = 128 });
        using var events = new EventRecorder(broker);

        var alice = await RawClient.JoinAsync(broker.LocalEndPoint, "alice");
        await alice.SendChatAsync("hi");
        await alice.ExpectChatAsync("alice", "hi");
        await alice.SendLineAsync("{\"type\":\"chat\"}");
        await alice.ExpectAsync<ErrorMessage>();
        await alice.DisposeAsync();
        await events.WaitForAsync<ClientDisconnectedEvent>(e => e.ConnectionId == 1);

        await using (var refused = await RawClient.ConnectAsync(broker.LocalEndPoint))
        {
            await refused.SendChatAsync("no hello");
            await refused.WaitForClosedAsync();
        }

        await using (var longWinded = await RawClient.ConnectAsync(broker.LocalEndPoint))
        {
            await longWinded.SendLineAsync(new string('x', 200));
            await longWinded.WaitForClosedAsync();
        }

        await events.WaitForCountAsync<ClientDisconnectedEvent>(3);
        var log = events.Snapshot();
        Assert.That(log.Where(e => e.ConnectionId == 1).Select(Describe), Is.EqualTo(new[]
        {
            "connected",
            "ClientJoinedEvent { ConnectionId = 1, Nickname = alice }",
            "RoomJoinedEvent { ConnectionId = 1, Nickname = alice, Room = lobby }",
            "ChatEvent { ConnectionId = 1, Nickname = alice, Text = hi, Room = lobby, Id = 1 }",
            "ClientErrorEvent { ConnectionId = 1, Message = missing field 'text' }",
            "RoomLeftEvent { ConnectionId = 1, Nickname = alice, Room = lobby }",
            "ClientDisconnectedEvent { ConnectionId = 1, Nickname = alice, Reason = ClientClosed }",
        }));
        Assert.That(log.Where(e => e.ConnectionId == 2).Select(Describe), Is.EqualTo(new[]
        {
            "connected",
            "ClientErrorEvent { ConnectionId = 2, Message = expected a hello message first }",
            "ClientDisconnectedEvent { ConnectionId = 2, Nickname = , Reason = HandshakeRefused }",
        }));
        Assert.That(log.Where(e => e.ConnectionId == 3).Select(Describe), Is.EqualTo(new[]
        {
            "connected",
            "ClientErrorEvent { ConnectionId = 3, Message = line exceeds the limit of 128 bytes }",
            "ClientDisconnectedEvent { ConnectionId = 3, Nickname = , Reason = LineTooLong }",
        }));
        var connected = log.OfType<ClientConnectedEvent>().ToList();
        Assert.That(connected.Select(e => ((IPEndPoint)e.RemoteEndPoint!).Address), Has.All.EqualTo(IPAddress.Loopback));
    }

    [Test]
    public async Task Events_complete_when_the_broker_stops()
    {
        var broker = await TestBroker.StartAsync();
        var completed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var subscription = broker.Events.Subscribe(_ => { }, () => completed.TrySetResult());
        // Recorded from before the join: the welcome can reach the client before the hub has
        // published the lobby's RoomJoinedEvent, so a recorder started after JoinAsync saw it or not.
        using var events = new EventRecorder(broker);
        await using var alice = await RawClient.JoinAsync(broker.LocalEndPoint, "alice");
        await events.WaitForAsync<RoomJoinedEvent>(e => e.ConnectionId == 1);

        await broker.StopAsync().WaitAsync(RawClient.Deadline);

        await completed.Task.WaitAsync(RawClient.Deadline);
        Assert.That(events.Snapshot().Select(Describe), Is.EqualTo(new[]
        {
            "connected",
            "ClientJoinedEvent { ConnectionId = 1, Nickname = alice }",
            "RoomJoinedEvent { ConnectionId = 1, Nickname = alice, Room = lobby }",
            "ClientErrorEvent { ConnectionId = 1, Message = broker shutting down }",
            "RoomLeftEvent { ConnectionId = 1, Nickname = alice, Room = lobby }",
            "ClientDisconnectedEvent { ConnectionId = 1, Nickname = alice, Reason = Shutdown }",
        }));
    }

    // The remote end point differs per run; everything else prints as the record does.
    private static string Describe(BrokerEvent brokerEvent) =>
        brokerEvent is ClientConnectedEvent ? "connected" : brokerEvent.ToString();
}
