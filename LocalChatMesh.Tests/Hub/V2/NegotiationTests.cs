using LocalChatMesh.Protocol;
using LocalChatMesh.Tests.Support;

namespace LocalChatMesh.Tests.Hub.V2;

public class NegotiationTests
{
    [Test]
    public void A_hello_without_capabilities_gets_the_version_1_welcome_byte_for_byte()
    {
        using var hub = new HubHarness();

        var alice = hub.Join("alice");

        Assert.That(alice.Lines(), Is.EqualTo(new[] { """{"type":"welcome","nickname":"alice"}""" }));
    }

    [Test]
    public void Every_capability_asked_for_is_granted_with_a_session_and_the_line_limit()
    {
        using var hub = new HubHarness();

        var alice = hub.JoinV2("alice");

        var welcome = alice.Welcome();
        Assert.That(welcome.Capabilities, Is.EqualTo(new[] { "rooms", "direct", "history", "meta" }));
        Assert.That(welcome.Session, Has.Length.GreaterThanOrEqualTo(22), "at least 128 random bits");
        Assert.That(welcome.MaxLineLength, Is.EqualTo(8192));
    }

    [Test]
    public void Sessions_differ_between_clients()
    {
        using var hub = new HubHarness();

        var sessions = Enumerable.Range(0, 20).Select(i => hub.JoinV2($"user{i}").Welcome().Session).ToList();

        Assert.That(sessions, Is.Unique);
    }

    [Test]
    public void Unknown_capabilities_are_ignored()
    {
        using var hub = new HubHarness();

        var alice = hub.JoinV2("alice", ["teleport", "rooms", "rooms"]);

        Assert.That(alice.Welcome().Capabilities, Is.EqualTo(new[] { "rooms" }));
    }

    [TestCase(new[] { "history" }, new string[0])]
    [TestCase(new[] { "rooms", "history" }, new[] { "rooms" })]
    [TestCase(new[] { "meta", "history" }, new[] { "meta" })]
    [TestCase(new[] { "history", "meta", "rooms" }, new[] { "rooms", "history", "meta" })]
    public void History_needs_rooms_and_meta_and_is_otherwise_simply_not_granted(string[] asked, string[] granted)
    {
        using var hub = new HubHarness();

        var alice = hub.JoinV2("alice", asked);

        Assert.That(alice.Welcome().Capabilities, Is.EqualTo(granted));
        Assert.That(alice.Received, Has.Count.EqualTo(1), "no error, nothing else");
    }

    [Test]
    public void The_broker_grants_only_what_it_offers()
    {
        using var hub = new HubHarness(options => options with { Capabilities = [ChatCapabilities.Rooms] });

        var alice = hub.JoinV2("alice");

        Assert.That(alice.Welcome().Capabilities, Is.EqualTo(new[] { "rooms" }));
    }

    [Test]
    public void A_client_granted_rooms_starts_in_no_room()
    {
        using var hub = new HubHarness();
        hub.Join("bob");

        var alice = hub.JoinV2("alice");
        alice.Chat("hello");

        Assert.That(alice.Received.Skip(1), Is.EqualTo(new ServerMessage[] { new ErrorMessage("not in room 'lobby'") }));
        Assert.That(hub.Broker.Rooms.Single(), Is.EqualTo(new RoomSummary("lobby", 1)));
    }

    [Test]
    public void A_client_with_capabilities_but_without_rooms_lives_in_the_lobby_like_version_1_plus_meta()
    {
        using var hub = new HubHarness();
        var bob = hub.Join("bob");

        var alice = hub.JoinV2("alice", [ChatCapabilities.Meta]);
        alice.Chat("hi");

        var lines = alice.Lines();
        Assert.That(lines[0], Does.StartWith("""{"type":"welcome","nickname":"alice","capabilities":["meta"],"session":"""));
        Assert.That(lines[1], Is.EqualTo("""{"type":"roster","participants":["bob"]}"""));
        Assert.That(lines[2], Does.Match("""^\{"type":"chat","nickname":"alice","text":"hi","id":1,"time":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"\}$"""));
        Assert.That(bob.Lines(), Is.EqualTo(new[]
        {
            """{"type":"welcome","nickname":"bob"}""",
            """{"type":"user_joined","nickname":"alice"}""",
            """{"type":"chat","nickname":"alice","text":"hi"}""",
        }));
    }

    [Test]
    public void An_empty_capabilities_array_makes_a_version_2_client_granted_nothing()
    {
        using var hub = new HubHarness();

        var alice = hub.JoinV2("alice", []);

        Assert.That(alice.Welcome().Capabilities, Is.Empty);
        Assert.That(alice.Welcome().Session, Is.Not.Null);
    }

    [TestCase("join")]
    [TestCase("direct")]
    [TestCase("rooms")]
    public void A_version_1_client_hears_of_version_2_types_as_unknown_as_before(string type)
    {
        using var hub = new HubHarness();
        var alice = hub.Join("alice");
        hub.Join("bob");
        alice.TakeReceived();

        alice.Send(type switch
        {
            "join" => new JoinMessage("dev"),
            "direct" => new DirectMessage("bob", "psst"),
            _ => new ListRoomsMessage(),
        });

        Assert.That(alice.Received, Is.EqualTo(new ServerMessage[] { new ErrorMessage($"unknown message type '{type}'") }));
        Assert.That(alice.IsOpen(), Is.True);
    }

    [Test]
    public void A_version_1_client_hears_of_a_malformed_version_2_line_as_an_unknown_type()
    {
        using var hub = new HubHarness();
        var alice = hub.Join("alice");
        alice.TakeReceived();

        alice.Send(MessageDecoder.DecodeClientMessage("""{"type":"join","room":5}"""u8));

        Assert.That(alice.Received, Is.EqualTo(new ServerMessage[] { new ErrorMessage("unknown message type 'join'") }));
    }

    [Test]
    public void A_mistyped_room_on_a_chat_is_ignored_for_version_1_and_refused_with_rooms()
    {
        using var hub = new HubHarness();
        var v1 = hub.Join("alice");
        var v2 = hub.JoinV2("bob");
        v2.JoinRoom("lobby");
        v1.TakeReceived();
        v2.TakeReceived();

        v1.Send(MessageDecoder.DecodeClientMessage("""{"type":"chat","text":"hi","room":5}"""u8));
        v2.Send(MessageDecoder.DecodeClientMessage("""{"type":"chat","text":"hi","room":5}"""u8));

        Assert.That(v1.Received, Is.EqualTo(new ServerMessage[] { new ChatBroadcastMessage("alice", "hi") }));
        Assert.That(v2.Received, Has.Count.EqualTo(2));
        Assert.That(v2.Received[^1], Is.EqualTo(new ErrorMessage("field 'room' must be a string")));
    }
}
