using LocalChatMesh.Protocol;

namespace LocalChatMesh.Tests.Client;

/// <summary>The table of what answers which request: the protocol has no request ids.</summary>
public class PendingRequestTests
{
    private static readonly PendingRequest Join = new(RequestKind.Join, "dev");
    private static readonly PendingRequest Leave = new(RequestKind.Leave, "dev");
    private static readonly PendingRequest Who = new(RequestKind.Who, "dev");
    private static readonly PendingRequest Rooms = new(RequestKind.ListRooms, null);

    [Test]
    public void Answers_match_their_own_kind_and_room_only()
    {
        Assert.Multiple(() =>
        {
            Assert.That(Join.Matches(new JoinedMessage("DEV", [])), Is.True);
            Assert.That(Join.Matches(new JoinedMessage("ops", [])), Is.False);
            Assert.That(Join.Matches(new LeftMessage("dev")), Is.False);
            Assert.That(Leave.Matches(new LeftMessage("Dev")), Is.True);
            Assert.That(Leave.Matches(new JoinedMessage("dev", [])), Is.False);
            Assert.That(Who.Matches(new RosterMessage(["a"]) { Room = "dev" }), Is.True);
            Assert.That(Who.Matches(new RosterMessage(["a"])), Is.False, "a lobby roster of version 1 is not an answer");
            Assert.That(Who.Matches(new RosterMessage(["a"]) { Room = "ops" }), Is.False);
            Assert.That(Rooms.Matches(new RoomListMessage([])), Is.True);
            Assert.That(Rooms.Matches(new RosterMessage(["a"]) { Room = "dev" }), Is.False);
            Assert.That(Join.Matches(new ChatBroadcastMessage("bob", "joined") { Room = "dev" }), Is.False);
        });
    }

    [TestCase("invalid room name", true, true, true, false)]
    [TestCase("too many rooms", true, false, false, false)]
    [TestCase("too many rooms on this broker", true, false, false, false)]
    [TestCase("already in room 'dev'", true, false, false, false)]
    [TestCase("already in room 'DEV'", true, false, false, false)]
    [TestCase("already in room 'ops'", false, false, false, false)]
    [TestCase("not in room 'dev'", false, true, true, false)]
    [TestCase("not in room 'development'", false, false, false, false)]
    [TestCase("not in room ''", false, false, false, false)]
    [TestCase("missing field 'room'", true, true, true, false)]
    [TestCase("field 'room' must be a string", true, true, true, false)]
    [TestCase("field 'history' must be a non-negative integer", true, false, false, false)]
    [TestCase("unknown message type 'join'", true, false, false, false)]
    [TestCase("unknown message type 'leave'", false, true, false, false)]
    [TestCase("unknown message type 'who'", false, false, true, false)]
    [TestCase("unknown message type 'rooms'", false, false, false, true)]
    [TestCase("rate limit exceeded: at most 5 messages per second; messages are dropped until you slow down", false, false, false, false)]
    [TestCase("you are behind by 3 messages; consider reconnecting", false, false, false, false)]
    [TestCase("no such user 'dev'", false, false, false, false)]
    [TestCase("broker shutting down", false, false, false, false)]
    public void Errors_are_refusals_only_of_the_requests_that_can_get_them(string text, bool join, bool leave, bool who, bool rooms)
    {
        Assert.Multiple(() =>
        {
            Assert.That(Join.Matches(new ErrorMessage(text)), Is.EqualTo(join), "join");
            Assert.That(Leave.Matches(new ErrorMessage(text)), Is.EqualTo(leave), "leave");
            Assert.That(Who.Matches(new ErrorMessage(text)), Is.EqualTo(who), "who");
            Assert.That(Rooms.Matches(new ErrorMessage(text)), Is.EqualTo(rooms), "rooms");
        });
    }
}
