using LocalChatMesh.Protocol;
using LocalChatMesh.Testing;
using LocalChatMesh.Tests.Support;

namespace LocalChatMesh.Tests.Hub.V2;

public class RoomsTests
{
    [Test]
    public void Joining_a_room_lists_the_others_and_tells_them()
    {
        using var hub = new HubHarness();
        var alice = hub.JoinV2("alice", [ChatCapabilities.Rooms]);
        alice.JoinRoom("dev");
        var bob = hub.JoinV2("bob", [ChatCapabilities.Rooms]);
        alice.TakeReceived();
        bob.TakeReceived();

        bob.JoinRoom("dev");

        Assert.That(bob.Received, Is.EqualTo(new ServerMessage[] { new JoinedMessage("dev", ["alice"]) }));
        Assert.That(alice.Received, Is.EqualTo(new ServerMessage[] { new UserJoinedMessage("bob") { Room = "dev" } }));
        Assert.That(hub.Events.OfType<RoomJoinedEvent>().Select(e => (e.Nickname, e.Room)), Is.EqualTo(new[] { ("alice", "dev"), ("bob", "dev") }));
    }

    [Test]
    public void A_chat_reaches_only_the_members_of_its_room_with_the_room_id_and_time()
    {
        using var hub = new HubHarness();
        var v1 = hub.Join("victor");
        var alice = hub.JoinV2("alice");
        var bob = hub.JoinV2("bob");
        var carol = hub.JoinV2("carol");
        alice.JoinRoom("dev");
        bob.JoinRoom("dev");
        carol.JoinRoom("ops");
        v1.TakeReceived();
        alice.TakeReceived();
        bob.TakeReceived();
        carol.TakeReceived();
        hub.Advance(TimeSpan.FromMilliseconds(1234));

        alice.Chat("dev", "ship it");

        var chat = (ChatBroadcastMessage)bob.Received.Single();
        Assert.That(chat with { Id = null, Time = null }, Is.EqualTo(new ChatBroadcastMessage("alice", "ship it") { Room = "dev" }));
        Assert.That(chat.Id, Is.GreaterThan(0));
        Assert.That(chat.Time, Is.EqualTo(hub.Scheduler.Now).Within(TimeSpan.FromMilliseconds(1)));
        Assert.That(alice.Received, Is.EqualTo(bob.Received));
        Assert.That(carol.Received, Is.Empty);
        Assert.That(v1.Received, Is.Empty);
        Assert.That(hub.Events.OfType<ChatEvent>().Single().Room, Is.EqualTo("dev"));
    }

    [Test]
    public void Ids_increase_within_a_room()
    {
        using var hub = new HubHarness();
        var alice = hub.JoinV2("alice");
        alice.JoinRoom("dev");
        alice.JoinRoom("ops");
        alice.TakeReceived();

        for (var i = 0; i < 5; i++)
        {
            alice.Chat("dev", $"d{i}");
            alice.Chat("ops", $"o{i}");
        }

        var byRoom = alice.Received.OfType<ChatBroadcastMessage>().GroupBy(chat => chat.Room);
        foreach (var room in byRoom)
        {
            Assert.That(room.Select(chat => chat.Id), Is.Ordered.Ascending.And.Unique);
        }
    }

    [Test]
    public void A_room_is_encoded_once_per_wire_variant_not_once_per_recipient()
    {
        using var hub = new HubHarness();
        var v1a = hub.Join("v1a");
        var v1b = hub.Join("v1b");
        var metaA = hub.JoinV2("meta-a");
        var metaB = hub.JoinV2("meta-b");
        var plainRooms = hub.JoinV2("rooms-only", [ChatCapabilities.Rooms]);
        metaA.JoinRoom("lobby");
        metaB.JoinRoom("lobby");
        plainRooms.JoinRoom("lobby");

        v1a.Chat("once");

        Assert.That(v1a.Frames[^1], Is.SameAs(v1b.Frames[^1]));
        Assert.That(metaA.Frames[^1], Is.SameAs(metaB.Frames[^1]));
        Assert.That(metaA.Frames[^1], Is.Not.SameAs(v1a.Frames[^1]));
        Assert.That(plainRooms.Lines()[^1], Is.EqualTo("""{"type":"chat","nickname":"v1a","text":"once","room":"lobby"}"""));
    }

    [Test]
    public void Leaving_says_left_to_the_leaver_and_user_left_to_the_room()
    {
        using var hub = new HubHarness();
        var alice = hub.JoinV2("alice");
        var bob = hub.JoinV2("bob");
        alice.JoinRoom("dev");
        bob.JoinRoom("dev");
        alice.TakeReceived();
        bob.TakeReceived();

        bob.Send(new LeaveMessage("DEV"));
        bob.Chat("dev", "still here?");

        Assert.That(bob.Received, Is.EqualTo(new ServerMessage[] { new LeftMessage("dev"), new ErrorMessage("not in room 'dev'") }));
        Assert.That(alice.Received, Is.EqualTo(new ServerMessage[] { new UserLeftMessage("bob") { Room = "dev" } }));
        Assert.That(bob.IsOpen(), Is.True);
    }

    [Test]
    public void Who_lists_everybody_in_the_room_in_join_order_including_you()
    {
        using var hub = new HubHarness();
        var carol = hub.JoinV2("carol");
        var alice = hub.JoinV2("alice");
        carol.JoinRoom("dev");
        alice.JoinRoom("dev");
        alice.TakeReceived();

        alice.Send(new WhoMessage("dev"));
        alice.Send(new WhoMessage("ops"));

        Assert.That(alice.Received, Is.EqualTo(new ServerMessage[]
        {
            new RosterMessage(["carol", "alice"]) { Room = "dev" },
            new ErrorMessage("not in room 'ops'"),
        }));
    }

    [Test]
    public void Rooms_lists_every_room_by_name_with_its_members()
    {
        using var hub = new HubHarness();
        hub.Join("victor");
        var alice = hub.JoinV2("alice");
        var bob = hub.JoinV2("bob");
        alice.JoinRoom("Zeta");
        alice.JoinRoom("dev");
        bob.JoinRoom("dev");
        alice.TakeReceived();

        alice.Send(new ListRoomsMessage());

        Assert.That(alice.Received, Is.EqualTo(new ServerMessage[]
        {
            new RoomListMessage([new RoomSummary("dev", 2), new RoomSummary("lobby", 1), new RoomSummary("Zeta", 1)]),
        }));
    }

    [Test]
    public void A_room_keeps_the_name_it_was_first_spelled_with_and_compares_without_case()
    {
        using var hub = new HubHarness();
        var alice = hub.JoinV2("alice");
        var bob = hub.JoinV2("bob");
        var epoch = HubHarness.EpochOf(alice);
        alice.JoinRoom("Dev.Team");
        bob.TakeReceived();

        bob.JoinRoom("dev.team");
        alice.JoinRoom("DEV.TEAM");

        Assert.That(bob.Received, Is.EqualTo(new ServerMessage[] { new JoinedMessage("Dev.Team", ["alice"]) { Epoch = epoch, LastId = 0 } }));
        Assert.That(alice.Received[^1], Is.EqualTo(new ErrorMessage("already in room 'Dev.Team'")));
    }

    [TestCase("")]
    [TestCase("dev team")]
    [TestCase("dev\u0007")]
    [TestCase("d\u00e9v")]
    [TestCase("...")]
    [TestCase("-")]
    [TestCase("abcdefghijklmnopqrstuvwxyz0123456")]
    [TestCase("dev/ops")]
    public void An_invalid_room_name_is_refused_and_the_connection_stays(string name)
    {
        using var hub = new HubHarness();
        var alice = hub.JoinV2("alice");
        alice.TakeReceived();

        alice.JoinRoom(name);
        alice.Send(new LeaveMessage(name));
        alice.Send(new WhoMessage(name));
        alice.Chat(name, "hi");

        Assert.That(alice.Received, Is.EqualTo(Enumerable.Repeat<ServerMessage>(new ErrorMessage("invalid room name"), 4)));
        Assert.That(alice.IsOpen(), Is.True);
        Assert.That(hub.Broker.Rooms, Is.Empty);
    }

    [Test]
    public void A_10_KB_room_name_is_refused()
    {
        using var hub = new HubHarness();
        var alice = hub.JoinV2("alice");
        alice.TakeReceived();

        alice.JoinRoom(new string('a', 10_000));

        Assert.That(alice.Received, Is.EqualTo(new ServerMessage[] { new ErrorMessage("invalid room name") }));
    }

    [Test]
    public void Rooms_per_client_are_limited()
    {
        using var hub = new HubHarness(options => options with { MaxRoomsPerClient = 2 });
        var alice = hub.JoinV2("alice");
        alice.JoinRoom("a");
        alice.JoinRoom("b");
        alice.TakeReceived();

        alice.JoinRoom("c");
        alice.Send(new LeaveMessage("a"));
        alice.JoinRoom("c");

        Assert.That(alice.Received[0], Is.EqualTo(new ErrorMessage("too many rooms")));
        Assert.That(alice.Received[1], Is.EqualTo(new LeftMessage("a")));
        Assert.That(alice.Received[2], Is.TypeOf<JoinedMessage>());
    }

    [Test]
    public void Rooms_on_the_broker_are_limited_but_the_lobby_can_always_be_entered()
    {
        using var hub = new HubHarness(options => options with { MaxRooms = 1 });
        var alice = hub.JoinV2("alice");
        alice.JoinRoom("dev");
        alice.TakeReceived();

        alice.JoinRoom("ops");
        var victor = hub.Join("victor");

        Assert.That(alice.Received, Is.EqualTo(new ServerMessage[] { new ErrorMessage("too many rooms on this broker") }));
        Assert.That(victor.IsOpen(), Is.True);
        Assert.That(hub.Broker.Rooms.Select(room => room.Room), Is.EqualTo(new[] { "dev", "lobby" }));
    }

    [Test]
    public void Thousands_of_joins_cost_nothing_beyond_the_limit_and_leave_no_trace()
    {
        using var hub = new HubHarness(options => options with { HistoryMessagesPerRoom = 0 });
        var alice = hub.JoinV2("alice");
        alice.TakeReceived();

        for (var i = 0; i < 5000; i++)
        {
            alice.JoinRoom($"room-{i}");
        }

        Assert.That(alice.Received.OfType<JoinedMessage>().Count(), Is.EqualTo(32));
        Assert.That(alice.Received.OfType<ErrorMessage>().Count(), Is.EqualTo(5000 - 32));
        alice.Close();
        Assert.That(hub.Broker.Rooms, Is.Empty);
    }

    [Test]
    public void Leaving_the_last_room_is_allowed_and_an_empty_room_without_history_is_gone()
    {
        using var hub = new HubHarness(options => options with { HistoryMessagesPerRoom = 0 });
        var alice = hub.JoinV2("alice");
        alice.JoinRoom("dev");
        alice.Chat("dev", "bye");

        alice.Send(new LeaveMessage("dev"));

        Assert.That(alice.Received[^1], Is.EqualTo(new LeftMessage("dev")));
        Assert.That(hub.Broker.Rooms, Is.Empty);
    }

    [Test]
    public void A_room_with_history_outlives_its_members()
    {
        using var hub = new HubHarness();
        var alice = hub.JoinV2("alice");
        alice.JoinRoom("dev");
        alice.Chat("dev", "remember me");

        alice.Close();

        Assert.That(hub.Broker.Rooms, Is.EqualTo(new[] { new RoomSummary("dev", 0) }));
    }

    [Test]
    public void A_disconnect_leaves_every_room_and_each_room_hears_of_it_once()
    {
        using var hub = new HubHarness(options => options with { HistoryMessagesPerRoom = 0 });
        var alice = hub.JoinV2("alice");
        var bob = hub.JoinV2("bob");
        foreach (var room in new[] { "a", "b", "lobby" })
        {
            alice.JoinRoom(room);
            bob.JoinRoom(room);
        }

        bob.TakeReceived();
        alice.Reset();

        Assert.That(bob.Received, Is.EquivalentTo(new ServerMessage[]
        {
            new UserLeftMessage("alice") { Room = "a" },
            new UserLeftMessage("alice") { Room = "b" },
            new UserLeftMessage("alice") { Room = "lobby" },
        }));
        Assert.That(hub.Events.OfType<RoomLeftEvent>().Count(), Is.EqualTo(3));
        bob.Close();
        Assert.That(hub.Broker.Rooms, Is.Empty);
        Assert.That(hub.Broker.Participants, Is.Empty);
    }

    [Test]
    public void Every_member_sees_the_events_of_a_room_in_one_order()
    {
        using var hub = new HubHarness();
        var members = Enumerable.Range(0, 4).Select(i => hub.JoinV2($"m{i}")).ToList();
        foreach (var member in members)
        {
            member.JoinRoom("dev");
        }

        var v1 = hub.Join("victor");
        members[0].JoinRoom("lobby");
        foreach (var member in members)
        {
            member.ClearReceived();
        }

        var random = new Random(7);
        var late = new List<InMemoryConnection>();
        for (var i = 0; i < 200; i++)
        {
            var who = members[random.Next(members.Count)];
            switch (random.Next(4))
            {
                case 0:
                    var newcomer = hub.JoinV2($"late{i}");
                    newcomer.JoinRoom("dev");
                    late.Add(newcomer);
                    break;
                case 1 when late.Count > 0:
                    late[0].Send(new LeaveMessage("dev"));
                    late.RemoveAt(0);
                    break;
                default:
                    who.Chat("dev", $"line {i}");
                    break;
            }
        }

        var sequences = members.Select(member => member.Lines()).ToList();
        Assert.That(sequences.Distinct(StringListComparer.Instance).Count(), Is.EqualTo(1), "every member saw the same lines in the same order");
        Assert.That(v1.Received.Skip(1), Is.EqualTo(new ServerMessage[] { new UserJoinedMessage("m0") }), "nothing of dev reaches the lobby");
    }

    [Test]
    public void A_version_1_and_a_version_2_client_share_the_lobby_each_in_its_own_form()
    {
        using var hub = new HubHarness();
        var victor = hub.Join("victor");
        var alice = hub.JoinV2("alice", [ChatCapabilities.Rooms]);
        alice.JoinRoom("lobby");

        victor.Chat("hello v2");
        alice.Chat("hello v1");
        alice.Send(new LeaveMessage("lobby"));

        Assert.That(victor.Lines(), Is.EqualTo(new[]
        {
            """{"type":"welcome","nickname":"victor"}""",
            """{"type":"user_joined","nickname":"alice"}""",
            """{"type":"chat","nickname":"victor","text":"hello v2"}""",
            """{"type":"chat","nickname":"alice","text":"hello v1"}""",
            """{"type":"user_left","nickname":"alice"}""",
        }));
        Assert.That(alice.Lines().Skip(1), Is.EqualTo(new[]
        {
            """{"type":"joined","room":"lobby","participants":["victor"]}""",
            """{"type":"chat","nickname":"victor","text":"hello v2","room":"lobby"}""",
            """{"type":"chat","nickname":"alice","text":"hello v1","room":"lobby"}""",
            """{"type":"left","room":"lobby"}""",
        }));
    }

    private sealed class StringListComparer : IEqualityComparer<List<string>>
    {
        public static readonly StringListComparer Instance = new();

        public bool Equals(List<string>? x, List<string>? y) => x!.SequenceEqual(y!);

        public int GetHashCode(List<string> obj) => obj.Count;
    }
}
