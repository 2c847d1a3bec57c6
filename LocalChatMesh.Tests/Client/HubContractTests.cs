using LocalChatMesh.Protocol;
using LocalChatMesh.Tests.Support;

namespace LocalChatMesh.Tests.Client;

/// <summary>
/// The client matches answers to requests by their text, as the protocol has no request ids: the
/// hub (here the InMemoryBroker, on virtual time) must answer and refuse in words the client knows.
/// </summary>
public class HubContractTests
{
    [Test]
    public void Every_refusal_the_hub_gives_a_join_is_one_the_client_takes_as_its_answer()
    {
        using var hub = new HubHarness(options => options with { MaxRoomsPerClient = 2, MaxRooms = 3 });
        var alice = hub.JoinV2("alice");
        var bob = hub.JoinV2("bob");
        alice.JoinRoom("dev");
        alice.JoinRoom("ops");
        bob.JoinRoom("qa");

        Assert.Multiple(() =>
        {
            AssertRefusal(alice, new JoinMessage("not a room!"), RequestKind.Join, "invalid room name");
            AssertRefusal(alice, new JoinMessage("DEV"), RequestKind.Join, "already in room 'dev'");
            AssertRefusal(alice, new JoinMessage("third"), RequestKind.Join, "too many rooms");
            AssertRefusal(bob, new JoinMessage("fourth"), RequestKind.Join, "too many rooms on this broker");
        });
    }

    [Test]
    public void Every_refusal_the_hub_gives_a_leave_or_who_is_one_the_client_takes_as_its_answer()
    {
        using var hub = new HubHarness();
        var alice = hub.JoinV2("alice");

        Assert.Multiple(() =>
        {
            AssertRefusal(alice, new LeaveMessage("ops"), RequestKind.Leave, "not in room 'ops'");
            AssertRefusal(alice, new LeaveMessage("no way"), RequestKind.Leave, "invalid room name");
            AssertRefusal(alice, new WhoMessage("ops"), RequestKind.Who, "not in room 'ops'");
            AssertRefusal(alice, new WhoMessage(""), RequestKind.Who, "invalid room name");
        });
    }

    [Test]
    public void A_client_not_granted_rooms_is_told_the_request_type_is_unknown_and_the_client_knows_that_refusal()
    {
        using var hub = new HubHarness();
        var alice = hub.JoinV2("alice", [ChatCapabilities.Direct]);

        Assert.Multiple(() =>
        {
            AssertRefusal(alice, new JoinMessage("dev"), RequestKind.Join, "unknown message type 'join'");
            AssertRefusal(alice, new LeaveMessage("dev"), RequestKind.Leave, "unknown message type 'leave'");
            AssertRefusal(alice, new ListRoomsMessage(), RequestKind.ListRooms, "unknown message type 'rooms'");
            AssertRefusal(alice, new WhoMessage("dev"), RequestKind.Who, "unknown message type 'who'");
        });
    }

    [Test]
    public void The_hubs_answers_match_their_requests_and_only_them()
    {
        using var hub = new HubHarness();
        var alice = hub.JoinV2("alice");
        var bob = hub.JoinV2("bob");
        bob.JoinRoom("Dev");
        alice.TakeReceived();

        var joined = Answer(alice, new JoinMessage("dev"));
        var who = Answer(alice, new WhoMessage("DEV"));
        var rooms = Answer(alice, new ListRoomsMessage());
        var left = Answer(alice, new LeaveMessage("dev"));

        var join = new PendingRequest(RequestKind.Join, "dev");
        var whoRequest = new PendingRequest(RequestKind.Who, "DEV");
        var list = new PendingRequest(RequestKind.ListRooms, null);
        var leave = new PendingRequest(RequestKind.Leave, "dev");
        Assert.Multiple(() =>
        {
            Assert.That(joined, Is.InstanceOf<JoinedMessage>().With.Property(nameof(JoinedMessage.Room)).EqualTo("Dev"));
            Assert.That(who, Is.EqualTo(new RosterMessage(["bob", "alice"]) { Room = "Dev" }));
            Assert.That(join.Matches(joined), Is.True, "joined");
            Assert.That(whoRequest.Matches(who), Is.True, "roster");
            Assert.That(list.Matches(rooms), Is.True, "room_list");
            Assert.That(leave.Matches(left), Is.True, "left");
            Assert.That(new[] { joined, who, rooms, left }.Count(join.Matches), Is.EqualTo(1));
            Assert.That(new[] { joined, who, rooms, left }.Count(whoRequest.Matches), Is.EqualTo(1));
            Assert.That(new[] { joined, who, rooms, left }.Count(list.Matches), Is.EqualTo(1));
            Assert.That(new[] { joined, who, rooms, left }.Count(leave.Matches), Is.EqualTo(1));
        });
    }

    private static void AssertRefusal(Testing.InMemoryConnection connection, ClientMessage request, RequestKind kind, string expected)
    {
        var answer = Answer(connection, request);
        var room = request switch
        {
            JoinMessage join => join.Room,
            LeaveMessage leave => leave.Room,
            WhoMessage who => who.Room,
            _ => null,
        };
        Assert.That(answer, Is.EqualTo(new ErrorMessage(expected)), $"the hub's answer to {request}");
        Assert.That(new PendingRequest(kind, room).Matches(answer), Is.True, $"the client takes '{expected}' as the answer to {request}");
    }

    // The hub answers a request in the same step: exactly one message comes back.
    private static ServerMessage Answer(Testing.InMemoryConnection connection, ClientMessage request)
    {
        connection.TakeReceived();
        connection.Send(request);
        var received = connection.TakeReceived();
        Assert.That(received, Has.Count.EqualTo(1), $"one answer to {request}");
        return received[0];
    }
}
