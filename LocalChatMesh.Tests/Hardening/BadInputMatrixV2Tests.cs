using System.Net;
using System.Text;
using LocalChatMesh.Protocol;
using LocalChatMesh.Tests.Support;

namespace LocalChatMesh.Tests.Hardening;

/// <summary>
/// The version 2 half of the bad-input matrix: rooms, direct messages, capabilities and sessions,
/// over raw sockets against a real broker, one named case at a time. Each case asserts its exact
/// outcome; then the same checks run after every case: a version 1 bystander in <c>lobby</c> and a
/// version 2 watcher in <c>lobby</c> and <c>dev</c> heard exactly what the broker did (and, for a
/// quiet case, nothing at all), nobody holds a ghost nickname, and the broker's accounting is back
/// to its baseline: two connections, nothing queued, the rooms <c>dev</c> and <c>lobby</c> alone
/// (<see cref="ChatBroker.Rooms"/> and <c>chatmesh.rooms</c>) and no history. Rooms with history
/// outlive their members, so the matrix runs with <see cref="BrokerOptions.HistoryMessagesPerRoom"/> 0.
/// Texts come from PROTOCOL.md and the code (MessageDecoder, ChatHub, RoomNames).
/// </summary>
public class BadInputMatrixV2Tests
{
    private const string Bystander = "bystander";
    private const string Watcher = "watcher";
    private const string Mallory = "mallory";
    private const string Lobby = "lobby";
    private const string Dev = "dev";
    private const string Marker = "matrix check";
    private const string TooLong = "line exceeds the limit of 8192 bytes";
    private const string InvalidRoom = "invalid room name";
    private const string CapabilitiesNotStrings = "field 'capabilities' must be an array of strings";

    private static readonly string[] RoomsAndDirect = [ChatCapabilities.Rooms, ChatCapabilities.Direct];

    private static readonly Dictionary<string, BadInput> Cases = AllCases().ToDictionary(c => c.Name);

    public static IEnumerable<string> CaseNames => Cases.Keys;

    [TestCaseSource(nameof(CaseNames))]
    public async Task Gets_its_exact_outcome_and_leaves_no_trace(string name)
    {
        var badInput = Cases[name];
        await using var broker = await TestBroker.StartAsync(o => badInput.Configure(o with { HistoryMessagesPerRoom = 0 }));
        using var events = new EventRecorder(broker);
        using var gauges = new BrokerGauges(broker);
        await using var bystander = await RawClient.JoinAsync(broker.LocalEndPoint, Bystander);
        await using var watcher = await RawClient.ConnectAsync(broker.LocalEndPoint);
        await watcher.SendAsync(new HelloMessage(Watcher) { Capabilities = RoomsAndDirect });
        Assert.That((await watcher.ExpectAsync<WelcomeMessage>()).Capabilities, Is.EqualTo(RoomsAndDirect));
        await watcher.SendAsync(new JoinMessage(Lobby));
        Assert.That(await watcher.ReceiveAsync(), Is.EqualTo(new JoinedMessage(Lobby, [Bystander])));
        Assert.That(await bystander.ReceiveAsync(), Is.EqualTo(new UserJoinedMessage(Watcher)));
        await watcher.SendAsync(new JoinMessage(Dev));
        Assert.That(await watcher.ReceiveAsync(), Is.EqualTo(new JoinedMessage(Dev, [])));
        await gauges.WaitForBaselineAsync(connections: 2, rooms: 2, historyBytes: 0);

        var scene = new Scene(broker, events);
        try
        {
            await badInput.Act(scene);
        }
        finally
        {
            await scene.DisposeAsync();
        }

        await scene.WaitUntilEveryConnectionIsClosedAsync();
        var bystanderHeard = await HeardExactlyWhatHappenedAsync(bystander, Bystander, new ChatMessage(Marker), events);
        var watcherHeard = await HeardExactlyWhatHappenedAsync(watcher, Watcher, new ChatMessage(Marker) { Room = Dev }, events);
        if (badInput.Quiet)
        {
            Assert.That(bystanderHeard, Is.Empty, "the bystander heard nothing at all");
            Assert.That(watcherHeard.Where(m => m is not ChatBroadcastMessage { Text: Marker }), Is.Empty, "the watcher heard nothing but the bystander's check");
        }

        if (badInput.WatcherHears is { } expected)
        {
            Assert.That(watcherHeard.Where(m => m is not ChatBroadcastMessage { Text: Marker }), Is.EqualTo(expected), "the watcher heard what the case expects");
        }

        Assert.That(broker.Participants, Is.EqualTo(new[] { Bystander, Watcher }), "no ghost among the participants");
        foreach (var nickname in badInput.Nicknames)
        {
            await AssertNicknameIsFreeAsync(broker.LocalEndPoint, bystander, watcher, nickname);
        }

        Assert.That(broker.Rooms, Is.EqualTo(new[] { new RoomSummary(Dev, 1), new RoomSummary(Lobby, 2) }), "rooms back to their baseline");
        await gauges.WaitForBaselineAsync(connections: 2, rooms: 2, historyBytes: 0);
    }

    private static IEnumerable<BadInput> AllCases()
    {
        // Capabilities and sessions in the hello: a mistyped field refuses the handshake.
        yield return Refused("capabilities is a string", """{"type":"hello","nickname":"mallory","capabilities":"rooms"}""", CapabilitiesNotStrings);
        yield return Refused("capabilities is an object", """{"type":"hello","nickname":"mallory","capabilities":{"rooms":true}}""", CapabilitiesNotStrings);
        yield return Refused("capabilities is a number", """{"type":"hello","nickname":"mallory","capabilities":4}""", CapabilitiesNotStrings);
        yield return Refused("capabilities holds a number", """{"type":"hello","nickname":"mallory","capabilities":["rooms",1]}""", CapabilitiesNotStrings);
        yield return Refused("capabilities holds a nested array", """{"type":"hello","nickname":"mallory","capabilities":[["rooms"]]}""", CapabilitiesNotStrings);
        yield return Refused("capabilities holds null", """{"type":"hello","nickname":"mallory","capabilities":["rooms",null]}""", CapabilitiesNotStrings);
        yield return Refused("session is a number", """{"type":"hello","nickname":"mallory","capabilities":["rooms"],"session":12345}""", "field 'session' must be a string");
        yield return Refused("session is an array", """{"type":"hello","nickname":"mallory","session":["x"]}""", "field 'session' must be a string");
        yield return new("capabilities null is a version 1 hello", async scene =>
        {
            var mallory = await scene.ConnectAsync();
            await mallory.SendLineAsync("""{"type":"hello","nickname":"mallory","capabilities":null}""");
            Assert.That(await mallory.ReceiveRawLineAsync(), Is.EqualTo("""{"type":"welcome","nickname":"mallory"}"""));
            Assert.That(await mallory.ReceiveRawLineAsync(), Is.EqualTo("""{"type":"roster","participants":["bystander","watcher"]}"""));
            scene.Grant(mallory, null);
            await scene.StillWorksAsync(mallory);
        });
        yield return new("capabilities empty, unknown or history alone grants nothing", async scene =>
        {
            // Without rooms each lives in the lobby, as a version 1 client does.
            (string[] Asked, string Nickname)[] hellos = [([], "m0"), (["ROOMS", "Direct", "video", ""], "m1"), ([ChatCapabilities.History], "m2")];
            var lobby = new List<string> { Bystander, Watcher };
            foreach (var (asked, nickname) in hellos)
            {
                var client = await scene.JoinV2Async(nickname, asked, granted: [], lobby: [.. lobby]);
                await scene.StillWorksAsync(client, nickname);
                lobby.Add(nickname);
            }
        }) { Nicknames = ["m0", "m1", "m2"] };
        yield return new("10,000 capabilities with the default line limit", async scene =>
        {
            var client = await scene.ConnectAsync();
            await client.SendLineAsync(HelloWithManyCapabilities(10_000));
            await scene.ErrorThenCloseAsync(client, TooLong, DisconnectReason.LineTooLong);
        }) { Quiet = true };
        yield return new("10,000 capabilities with a raised line limit", async scene =>
        {
            var line = HelloWithManyCapabilities(10_000);
            Assert.That(Encoding.UTF8.GetByteCount(line), Is.GreaterThan(64 * 1024).And.LessThan(256 * 1024));
            var client = await scene.ConnectAsync();
            await client.SendLineAsync(line);
            var welcome = await client.ExpectAsync<WelcomeMessage>();
            Assert.That(welcome with { Session = null }, Is.EqualTo(new WelcomeMessage(Mallory) { Capabilities = RoomsAndDirect, MaxLineLength = 256 * 1024 }), "the known ones are granted, once each");
            Assert.That(welcome.Session, Has.Length.AtLeast(22), "at least 128 random bits");
            scene.Grant(client, RoomsAndDirect);
            await scene.StillWorksAsync(client);
        }) { Configure = o => o with { MaxLineLength = 256 * 1024, OutboundSoftLimitBytes = 512 * 1024, OutboundHardLimitBytes = 2048 * 1024 }, Quiet = true };

        // Wrong JSON types in join, leave, who, chat and direct: an error, and the connection stays.
        yield return AfterHello("join: room is a number", """{"type":"join","room":5}""", "field 'room' must be a string");
        yield return AfterHello("join: room is null", """{"type":"join","room":null}""", "field 'room' must be a string");
        yield return AfterHello("join: room is an array", """{"type":"join","room":["dev"]}""", "field 'room' must be a string");
        yield return AfterHello("join: room is missing", """{"type":"join","history":3}""", "missing field 'room'");
        yield return AfterHello("join: history is a string", """{"type":"join","room":"dev","history":"10"}""", "field 'history' must be a non-negative integer");
        yield return AfterHello("join: history is negative", """{"type":"join","room":"dev","history":-1}""", "field 'history' must be a non-negative integer");
        yield return AfterHello("join: history is a fraction", """{"type":"join","room":"dev","history":1.5}""", "field 'history' must be a non-negative integer");
        yield return AfterHello("join: history is beyond 64 bits", """{"type":"join","room":"dev","history":1e30}""", "field 'history' must be a non-negative integer");
        yield return AfterHello("join: history is a boolean", """{"type":"join","room":"dev","history":true}""", "field 'history' must be a non-negative integer");
        yield return AfterHello("join: after is a string", """{"type":"join","room":"dev","after":"7","epoch":"e"}""", "field 'after' must be a non-negative integer");
        yield return AfterHello("join: after is negative", """{"type":"join","room":"dev","after":-7,"epoch":"e"}""", "field 'after' must be a non-negative integer");
        yield return AfterHello("join: after is an object", """{"type":"join","room":"dev","after":{"id":7}}""", "field 'after' must be a non-negative integer");
        yield return AfterHello("join: epoch is a number", """{"type":"join","room":"dev","after":7,"epoch":42}""", "field 'epoch' must be a string");
        yield return AfterHello("join: epoch is an array", """{"type":"join","room":"dev","epoch":["e"]}""", "field 'epoch' must be a string");
        yield return AfterHello("join: room given twice", """{"type":"join","room":"ops","room":"dev"}""", "duplicate field 'room'");
        yield return AfterHello("leave: room is a number", """{"type":"leave","room":1}""", "field 'room' must be a string");
        yield return AfterHello("leave: room is missing", """{"type":"leave"}""", "missing field 'room'");
        yield return AfterHello("who: room is a boolean", """{"type":"who","room":false}""", "field 'room' must be a string");
        yield return AfterHello("who: room is missing", """{"type":"who"}""", "missing field 'room'");
        yield return AfterHello("chat: room is a number", """{"type":"chat","text":"hi","room":7}""", "field 'room' must be a string");
        yield return AfterHello("chat: room is an object", """{"type":"chat","text":"hi","room":{"name":"dev"}}""", "field 'room' must be a string");
        yield return AfterHello("direct: to is a number", """{"type":"direct","to":7,"text":"hi"}""", "field 'to' must be a string");
        yield return AfterHello("direct: to is an array", """{"type":"direct","to":["watcher"],"text":"hi"}""", "field 'to' must be a string");
        yield return AfterHello("direct: to is missing", """{"type":"direct","text":"hi"}""", "missing field 'to'");
        yield return AfterHello("direct: text is missing", """{"type":"direct","to":"watcher"}""", "missing field 'text'");
        yield return AfterHello("direct: text is a number", """{"type":"direct","to":"watcher","text":1}""", "field 'text' must be a string");

        // Room names.
        yield return BadRoomName("a room name with a control character", "\"de\\u0007v\"");
        yield return BadRoomName("a room name with an escaped NUL", "\"dev\\u0000\"");
        yield return BadRoomName("a room name with a space", "\"dev ops\"");
        yield return BadRoomName("a room name with a trailing space", "\"dev \"");
        yield return BadRoomName("a room name with a tab", "\"\\tdev\"");
        yield return BadRoomName("an empty room name", "\"\"");
        yield return BadRoomName("a room name of one dot", "\".\"");
        yield return BadRoomName("a room name of dots only", "\"....\"");
        yield return BadRoomName("a room name of dashes and underscores only", "\"-_-\"");
        yield return BadRoomName("a non-ASCII room name", "\"café\"");
        yield return BadRoomName("a full-width room name", "\"ｄｅｖ\"");
        yield return BadRoomName("a room name with a Cyrillic e", "\"d\u0435v\"");
        yield return BadRoomName("a room name with an emoji", "\"dev\U0001F680\"");
        yield return BadRoomName("a room name with a slash", "\"../dev\"");
        yield return BadRoomName("a 33-character room name", "\"" + new string('r', 33) + "\"");
        yield return BadRoomName("an 8,000-character room name", "\"" + new string('r', 8_000) + "\"");
        yield return new("a 10 KB room name with a raised line limit", async scene =>
        {
            var mallory = await scene.JoinV2Async();
            await mallory.SendLineAsync("{\"type\":\"join\",\"room\":\"" + new string('r', 10_000) + "\"}");
            await scene.ErrorThenOpenAsync(mallory, InvalidRoom);
        }) { Configure = o => o with { MaxLineLength = 64 * 1024 }, Quiet = true };
        yield return new("a 32-character room name is fine, and case-insensitive", async scene =>
        {
            var name = "A." + new string('r', 29) + "_";
            var mallory = await scene.JoinV2Async();
            await Scene.JoinRoomAsync(mallory, name);
            await mallory.SendAsync(new JoinMessage("a." + new string('R', 29) + "_"));
            await mallory.ExpectErrorAsync($"already in room '{name}'");
            await mallory.SendAsync(new LeaveMessage(name.ToUpperInvariant()));
            Assert.That(await mallory.ReceiveAsync(), Is.EqualTo(new LeftMessage(name)));
            await scene.StillWorksAsync(mallory);
        }) { Quiet = true };
        yield return AfterHello("leave with an invalid room name", """{"type":"leave","room":"dev ops"}""", InvalidRoom);
        yield return AfterHello("who with an invalid room name", """{"type":"who","room":"..."}""", InvalidRoom);
        yield return AfterHello("chat with an invalid room name", """{"type":"chat","text":"hi","room":"café"}""", InvalidRoom);

        // Limits on rooms.
        yield return new("joining 2,000 rooms", async scene =>
        {
            var mallory = await scene.JoinV2Async();
            const int Rooms = 2_000;
            await mallory.SendAsync(Utf8(string.Concat(Enumerable.Range(0, Rooms).Select(n => $"{{\"type\":\"join\",\"room\":\"r{n}\"}}\n"))));
            for (var n = 0; n < 32; n++)
            {
                Assert.That(await mallory.ReceiveAsync(), Is.EqualTo(new JoinedMessage($"r{n}", [])));
            }

            for (var n = 32; n < Rooms; n++)
            {
                await mallory.ExpectErrorAsync("too many rooms");
            }

            Assert.That(scene.Broker.Rooms, Has.Count.EqualTo(2 + 32), "only the rooms joined exist");
            await mallory.SendAsync(new LeaveMessage("r1000"));
            await mallory.ExpectErrorAsync("not in room 'r1000'");

            // Leaving one makes room for one more.
            await mallory.SendAsync(new LeaveMessage("r0"));
            Assert.That(await mallory.ReceiveAsync(), Is.EqualTo(new LeftMessage("r0")));
            await Scene.JoinRoomAsync(mallory, "r1999");
            await mallory.SendAsync(new JoinMessage("r0"));
            await mallory.ExpectErrorAsync("too many rooms");
            await scene.StillWorksAsync(mallory);
        }) { Quiet = true };
        yield return new("joining more rooms than the per-client limit, lobby and dev included", async scene =>
        {
            var mallory = await scene.JoinV2Async();
            await Scene.JoinRoomAsync(mallory, Lobby, [Bystander, Watcher]);
            await Scene.JoinRoomAsync(mallory, Dev, [Watcher]);
            await Scene.JoinRoomAsync(mallory, "ops");
            await mallory.SendAsync(new JoinMessage("qa"));
            await mallory.ExpectErrorAsync("too many rooms");
            await scene.StillWorksAsync(mallory);
        })
        {
            Configure = o => o with { MaxRoomsPerClient = 3 },
            WatcherHears =
            [
                new UserJoinedMessage(Mallory) { Room = Lobby },
                new UserJoinedMessage(Mallory) { Room = Dev },
                new UserLeftMessage(Mallory) { Room = Lobby },
                new UserLeftMessage(Mallory) { Room = Dev },
            ],
        };
        yield return new("more rooms than the broker allows", async scene =>
        {
            // Lobby and dev exist; with at most 4 rooms, mallory can make two more, then none.
            var mallory = await scene.JoinV2Async();
            await Scene.JoinRoomAsync(mallory, "a");
            await Scene.JoinRoomAsync(mallory, "b");
            await mallory.SendAsync(new JoinMessage("c"));
            await mallory.ExpectErrorAsync("too many rooms on this broker");
            var eve = await scene.JoinV2Async("eve");
            await eve.SendAsync(new JoinMessage("d"));
            await eve.ExpectErrorAsync("too many rooms on this broker");
            await Scene.JoinRoomAsync(eve, "A", [Mallory], shownAs: "a");
            Assert.That(await mallory.ReceiveAsync(), Is.EqualTo(new UserJoinedMessage("eve") { Room = "a" }), "an existing room can always be joined");

            // A room that empties is gone, and its place can be taken.
            await mallory.SendAsync(new LeaveMessage("b"));
            Assert.That(await mallory.ReceiveAsync(), Is.EqualTo(new LeftMessage("b")));
            await Scene.JoinRoomAsync(eve, "d");
            await mallory.SendAsync(new JoinMessage("c"));
            await mallory.ExpectErrorAsync("too many rooms on this broker");
            await scene.StillWorksAsync(mallory);
            await scene.StillWorksAsync(eve, "eve");
        }) { Configure = o => o with { MaxRooms = 4 }, Quiet = true, Nicknames = [Mallory, "eve"] };

        // Rooms you are not in, or are in already.
        yield return AfterHello("leave a room you are not in", """{"type":"leave","room":"dev"}""", "not in room 'dev'");
        yield return AfterHello("who for a room you are not in", """{"type":"who","room":"dev"}""", "not in room 'dev'");
        yield return AfterHello("chat in a room you are not in", """{"type":"chat","text":"hi","room":"dev"}""", "not in room 'dev'");
        yield return AfterHello("chat in a room that does not exist", """{"type":"chat","text":"hi","room":"nowhere"}""", "not in room 'nowhere'");
        yield return AfterHello("a chat without a room, in no room", """{"type":"chat","text":"hi"}""", "not in room 'lobby'");
        yield return new("join a room you are already in", async scene =>
        {
            var mallory = await scene.JoinV2Async();
            await Scene.JoinRoomAsync(mallory, Dev, [Watcher]);
            await mallory.SendAsync(new JoinMessage(Dev));
            await mallory.ExpectErrorAsync("already in room 'dev'");
            await mallory.SendAsync(new JoinMessage("DeV"));
            await mallory.ExpectErrorAsync("already in room 'dev'");
            await scene.StillWorksAsync(mallory);
        }) { WatcherHears = [new UserJoinedMessage(Mallory) { Room = Dev }, new UserLeftMessage(Mallory) { Room = Dev }] };
        yield return new("leave a room, then use it", async scene =>
        {
            var mallory = await scene.JoinV2Async();
            await Scene.JoinRoomAsync(mallory, Dev, [Watcher]);
            await mallory.SendAsync(new ChatMessage("in dev") { Room = Dev });
            Assert.That(await mallory.ReceiveAsync(), Is.EqualTo(new ChatBroadcastMessage(Mallory, "in dev") { Room = Dev }));
            await mallory.SendAsync(new LeaveMessage(Dev));
            Assert.That(await mallory.ReceiveAsync(), Is.EqualTo(new LeftMessage(Dev)), "leaving the last room is allowed");
            await mallory.SendAsync(new LeaveMessage(Dev));
            await mallory.ExpectErrorAsync("not in room 'dev'");
            await mallory.SendAsync(new WhoMessage("DEV"));
            await mallory.ExpectErrorAsync("not in room 'DEV'");
            await mallory.SendAsync(new ChatMessage("gone") { Room = Dev });
            await mallory.ExpectErrorAsync("not in room 'dev'");
            await scene.StillWorksAsync(mallory);
        })
        {
            WatcherHears =
            [
                new UserJoinedMessage(Mallory) { Room = Dev },
                new ChatBroadcastMessage(Mallory, "in dev") { Room = Dev },
                new UserLeftMessage(Mallory) { Room = Dev },
            ],
        };

        // Direct messages.
        yield return AfterHello("a direct message to nobody", """{"type":"direct","to":"bob","text":"hi"}""", "no such user 'bob'");
        yield return AfterHello("a direct message to an impossible nickname", "{\"type\":\"direct\",\"to\":\"" + new string('b', 100) + "\",\"text\":\"hi\"}", $"no such user '{new string('b', 40)}…'");
        yield return AfterHello("a direct message to a version 1 client", """{"type":"direct","to":"bystander","text":"hi"}""", "'bystander' cannot receive direct messages");
        yield return new("a direct message to a version 2 client without direct", async scene =>
        {
            await scene.JoinV2Async("bob", [ChatCapabilities.Rooms]);
            var mallory = await scene.JoinV2Async();
            await mallory.SendLineAsync("""{"type":"direct","to":" BOB ","text":"hi"}""");
            await scene.ErrorThenOpenAsync(mallory, "'bob' cannot receive direct messages");
        }) { Quiet = true, Nicknames = [Mallory, "bob"] };
        yield return new("a direct message to yourself", async scene =>
        {
            var mallory = await scene.JoinV2Async();
            await mallory.SendAsync(new DirectMessage("MALLORY", "note to self"));
            Assert.That(await mallory.ReceiveAsync(), Is.EqualTo(new DirectDeliveryMessage(Mallory, Mallory, "note to self")));
            await scene.StillWorksAsync(mallory);
        }) { Quiet = true };
        yield return new("a direct message to the watcher, padded", async scene =>
        {
            var mallory = await scene.JoinV2Async();
            await mallory.SendAsync(new DirectMessage("\tWatcher ", "psst"));
            Assert.That(await mallory.ReceiveAsync(), Is.EqualTo(new DirectDeliveryMessage(Mallory, Watcher, "psst")));
            await scene.StillWorksAsync(mallory);
        }) { WatcherHears = [new DirectDeliveryMessage(Mallory, Watcher, "psst")] };
        yield return new("direct messages with empty text", async scene =>
        {
            var mallory = await scene.JoinV2Async();
            await mallory.SendAsync(new DirectMessage(Watcher, ""));
            await mallory.SendAsync(new DirectMessage(Watcher, " \t "));
            await mallory.SendAsync(new DirectMessage(Mallory, ""));
            await scene.StillWorksAsync(mallory);
            Assert.That(scene.Events.Snapshot().OfType<DirectMessageEvent>(), Is.Empty);
        }) { Quiet = true };

        // A version 1 client hears about version 2 types exactly as it always has.
        yield return V1Unknown("a version 1 join", """{"type":"join","room":"dev"}""", "join");
        yield return V1Unknown("a version 1 join with a mistyped room", """{"type":"join","room":5}""", "join");
        yield return V1Unknown("a version 1 leave", """{"type":"leave","room":"lobby"}""", "leave");
        yield return V1Unknown("a version 1 who", """{"type":"who","room":"lobby"}""", "who");
        yield return V1Unknown("a version 1 rooms", """{"type":"rooms"}""", "rooms");
        yield return V1Unknown("a version 1 direct", """{"type":"direct","to":"watcher","text":"hi"}""", "direct");
        yield return V1Unknown("a version 1 direct without a text", """{"type":"direct","to":"watcher"}""", "direct");
        yield return new("a version 2 client without rooms sends join and who", async scene =>
        {
            var mallory = await scene.JoinV2Async(Mallory, [ChatCapabilities.Direct]);
            await mallory.SendLineAsync("""{"type":"join","room":"dev"}""");
            Assert.That(await mallory.ReceiveRawLineAsync(), Is.EqualTo("""{"type":"error","message":"unknown message type 'join'"}"""));
            await mallory.SendLineAsync("""{"type":"who","room":7}""");
            Assert.That(await mallory.ReceiveRawLineAsync(), Is.EqualTo("""{"type":"error","message":"unknown message type 'who'"}"""));
            await scene.StillWorksAsync(mallory);
        });
        yield return new("a version 2 client without direct sends direct", async scene =>
        {
            var mallory = await scene.JoinV2Async(Mallory, [ChatCapabilities.Rooms]);
            await mallory.SendLineAsync("""{"type":"direct","to":"watcher","text":"hi"}""");
            await mallory.ExpectErrorAsync("unknown message type 'direct'");
            await scene.StillWorksAsync(mallory);
        }) { Quiet = true };
        yield return new("a version 1 chat with a bogus room", async scene =>
        {
            var mallory = await scene.JoinV1Async();
            await mallory.SendLineAsync("""{"type":"chat","text":"to the lobby","room":"dev"}""");
            Assert.That(await mallory.ReceiveRawLineAsync(), Is.EqualTo("""{"type":"chat","nickname":"mallory","text":"to the lobby"}"""));
            await mallory.SendLineAsync("""{"type":"chat","text":"still the lobby","room":42}""");
            Assert.That(await mallory.ReceiveRawLineAsync(), Is.EqualTo("""{"type":"chat","nickname":"mallory","text":"still the lobby"}"""));
            Assert.That(scene.Events.Snapshot().OfType<ChatEvent>().Select(e => e.Room), Is.EqualTo(new[] { Lobby, Lobby }));
        })
        {
            WatcherHears =
            [
                new UserJoinedMessage(Mallory) { Room = Lobby },
                new ChatBroadcastMessage(Mallory, "to the lobby") { Room = Lobby },
                new ChatBroadcastMessage(Mallory, "still the lobby") { Room = Lobby },
                new UserLeftMessage(Mallory) { Room = Lobby },
            ],
        };

        // Framing and connections, from a client in rooms.
        yield return new("an over-long line from a client in dev", async scene =>
        {
            var mallory = await scene.JoinV2Async();
            await Scene.JoinRoomAsync(mallory, Dev, [Watcher]);
            await mallory.SendLineAsync("{\"type\":\"chat\",\"room\":\"dev\",\"text\":\"" + new string('x', 8192) + "\"}");
            await scene.ErrorThenCloseAsync(mallory, TooLong, DisconnectReason.LineTooLong);
        }) { WatcherHears = [new UserJoinedMessage(Mallory) { Room = Dev }, new UserLeftMessage(Mallory) { Room = Dev }] };
        yield return new("a reset in the middle of a join, while in dev", async scene =>
        {
            var mallory = await scene.JoinV2Async();
            await Scene.JoinRoomAsync(mallory, Dev, [Watcher]);
            await mallory.SendAsync("{\"type\":\"join\",\"ro"u8.ToArray());
            mallory.Reset();
            var id = await scene.ConnectionIdAsync(mallory);
            var gone = await scene.Events.WaitForAsync<ClientDisconnectedEvent>(e => e.ConnectionId == id);
            Assert.That(gone.Reason, Is.AnyOf(DisconnectReason.TransportError, DisconnectReason.ClientClosed));
        }) { WatcherHears = [new UserJoinedMessage(Mallory) { Room = Dev }, new UserLeftMessage(Mallory) { Room = Dev }] };
        yield return AfterHello("invalid UTF-8 in a room name", [.. "{\"type\":\"join\",\"room\":\"d"u8, 0xC3, 0x28, .. "v\"}\n"u8], "invalid UTF-8");
        yield return new("a join with an escaped field name and junk fields", async scene =>
        {
            var mallory = await scene.JoinV2Async();
            await mallory.SendLineAsync("""{"type":"join","x":[1,{"room":"ops"}],"r\u006fom":"dev","history":null}""");
            Assert.That(await mallory.ReceiveAsync(), Is.EqualTo(new JoinedMessage(Dev, [Watcher])));
            await scene.StillWorksAsync(mallory);
        }) { WatcherHears = [new UserJoinedMessage(Mallory) { Room = Dev }, new UserLeftMessage(Mallory) { Room = Dev }] };
        yield return new("a version 2 client without rooms chats with a room", async scene =>
        {
            var mallory = await scene.JoinV2Async(Mallory, [ChatCapabilities.Direct]);
            await mallory.SendLineAsync("""{"type":"chat","text":"to the lobby","room":"dev"}""");
            await mallory.ExpectChatAsync(Mallory, "to the lobby");
            await mallory.SendLineAsync("""{"type":"chat","text":"still the lobby","room":[1]}""");
            await mallory.ExpectChatAsync(Mallory, "still the lobby");
        })
        {
            WatcherHears =
            [
                new UserJoinedMessage(Mallory) { Room = Lobby },
                new ChatBroadcastMessage(Mallory, "to the lobby") { Room = Lobby },
                new ChatBroadcastMessage(Mallory, "still the lobby") { Room = Lobby },
                new UserLeftMessage(Mallory) { Room = Lobby },
            ],
        };

        // Sessions.
        yield return new("a second connection with the right session takes over", async scene =>
        {
            var (first, session) = await scene.JoinV2WithSessionAsync();
            await Scene.JoinRoomAsync(first, Dev, [Watcher]);
            await Scene.JoinRoomAsync(first, "ops");
            var second = await scene.ConnectAsync();
            await second.SendAsync(new HelloMessage(Mallory) { Capabilities = RoomsAndDirect, Session = session });
            await first.ExpectErrorAsync("connection replaced");
            Assert.That(await first.WaitForClosedAsync(), Is.Empty, "the old connection is closed right after");
            var welcome = await second.ExpectAsync<WelcomeMessage>();
            Assert.That(welcome.Session, Is.EqualTo(session), "the reservation goes on");
            scene.Grant(second, RoomsAndDirect);
            var firstId = await scene.ConnectionIdAsync(first);
            Assert.That((await scene.Events.WaitForAsync<ClientDisconnectedEvent>(e => e.ConnectionId == firstId)).Reason, Is.EqualTo(DisconnectReason.Replaced));
            Assert.That(scene.Broker.Rooms.Select(r => r.Room), Does.Not.Contain("ops"), "the old connection's rooms are left");
            await Scene.JoinRoomAsync(second, Dev, [Watcher]);
            await scene.StillWorksAsync(second);
        })
        {
            WatcherHears =
            [
                new UserJoinedMessage(Mallory) { Room = Dev },
                new UserLeftMessage(Mallory) { Room = Dev },
                new UserJoinedMessage(Mallory) { Room = Dev },
                new UserLeftMessage(Mallory) { Room = Dev },
            ],
        };
        yield return new("a version 1 takeover with the right session", async scene =>
        {
            // The session is the key, whatever the new connection asks for.
            var (first, session) = await scene.JoinV2WithSessionAsync();
            await Scene.JoinRoomAsync(first, Lobby, [Bystander, Watcher]);
            var second = await scene.ConnectAsync();
            await second.SendAsync(new HelloMessage(Mallory) { Session = session });
            await first.ExpectErrorAsync("connection replaced");
            Assert.That(await first.WaitForClosedAsync(), Is.Empty);
            Assert.That(await second.ReceiveRawLineAsync(), Is.EqualTo("""{"type":"welcome","nickname":"mallory"}"""));
            Assert.That(await second.ReceiveRawLineAsync(), Is.EqualTo("""{"type":"roster","participants":["bystander","watcher"]}"""));
            scene.Grant(second, null);
            await scene.StillWorksAsync(second);
        })
        {
            WatcherHears =
            [
                new UserJoinedMessage(Mallory) { Room = Lobby },
                new UserLeftMessage(Mallory) { Room = Lobby },
                new UserJoinedMessage(Mallory) { Room = Lobby },
                new ChatBroadcastMessage(Mallory, "still here") { Room = Lobby },
                new UserLeftMessage(Mallory) { Room = Lobby },
            ],
        };
        yield return new("a second connection with a wrong session", async scene =>
        {
            var (first, session) = await scene.JoinV2WithSessionAsync();
            var otherCase = new string([.. session.Select(c => char.IsUpper(c) ? char.ToLowerInvariant(c) : char.ToUpperInvariant(c))]);
            foreach (var wrong in new[] { "wrong", otherCase, session + "x", session[..^1], "" })
            {
                var impostor = await scene.ConnectAsync();
                await impostor.SendAsync(new HelloMessage(Mallory) { Capabilities = RoomsAndDirect, Session = wrong });
                await scene.ErrorThenCloseAsync(impostor, "nickname 'mallory' is already in use", DisconnectReason.HandshakeRefused);
            }

            await scene.StillWorksAsync(first);
        }) { Quiet = true };
        yield return new("somebody else's session", async scene =>
        {
            var (_, session) = await scene.JoinV2WithSessionAsync("eve");
            var mallory = await scene.JoinV2Async();
            var impostor = await scene.ConnectAsync();
            await impostor.SendAsync(new HelloMessage(Mallory) { Capabilities = RoomsAndDirect, Session = session });
            await scene.ErrorThenCloseAsync(impostor, "nickname 'mallory' is already in use", DisconnectReason.HandshakeRefused);
            await scene.StillWorksAsync(mallory);
        }) { Quiet = true, Nicknames = [Mallory, "eve"] };
        yield return Refused("a session offered for a version 1 client's nickname", """{"type":"hello","nickname":"Bystander","capabilities":["rooms"],"session":"anything"}""", "nickname 'Bystander' is already in use");
        yield return new("an unknown session for a free nickname is ignored", async scene =>
        {
            var mallory = await scene.ConnectAsync();
            await mallory.SendAsync(new HelloMessage(Mallory) { Capabilities = RoomsAndDirect, Session = "made-up" });
            var welcome = await mallory.ExpectAsync<WelcomeMessage>();
            Assert.That(welcome.Session, Is.Not.EqualTo("made-up"), "a fresh session, not the one offered");
            scene.Grant(mallory, RoomsAndDirect);
            await scene.StillWorksAsync(mallory);
        }) { Quiet = true };
    }

    // Before the handshake a bad hello gets an error naming the problem, then the connection closes.
    private static BadInput Refused(string name, string line, string error) => new(name, async scene =>
    {
        var client = await scene.ConnectAsync();
        await client.SendLineAsync(line);
        await scene.ErrorThenCloseAsync(client, error, DisconnectReason.HandshakeRefused);
    }) { Quiet = true };

    // After a version 2 handshake (rooms and direct, in no room) a bad line gets its error and the connection stays.
    private static BadInput AfterHello(string name, string line, string error) => AfterHello(name, Utf8(line + "\n"), error);

    private static BadInput AfterHello(string name, byte[] bytes, string error) => new(name, async scene =>
    {
        var mallory = await scene.JoinV2Async();
        await mallory.SendAsync(bytes);
        await scene.ErrorThenOpenAsync(mallory, error);
    }) { Quiet = true };

    private static BadInput BadRoomName(string name, string jsonName) => new(name, async scene =>
    {
        var mallory = await scene.JoinV2Async();
        await mallory.SendLineAsync("{\"type\":\"join\",\"room\":" + jsonName + "}");
        await mallory.ExpectErrorAsync(InvalidRoom);
        await mallory.SendLineAsync("{\"type\":\"who\",\"room\":" + jsonName + "}");
        await mallory.ExpectErrorAsync(InvalidRoom);
        await mallory.SendLineAsync("{\"type\":\"chat\",\"text\":\"hi\",\"room\":" + jsonName + "}");
        await mallory.ExpectErrorAsync(InvalidRoom);
        await mallory.SendLineAsync("{\"type\":\"leave\",\"room\":" + jsonName + "}");
        await scene.ErrorThenOpenAsync(mallory, InvalidRoom);
    }) { Quiet = true };

    // A version 1 client sending a version 2 type: byte for byte the version 1 error.
    private static BadInput V1Unknown(string name, string line, string type) => new(name, async scene =>
    {
        var mallory = await scene.JoinV1Async();
        await mallory.SendLineAsync(line);
        Assert.That(await mallory.ReceiveRawLineAsync(), Is.EqualTo("{\"type\":\"error\",\"message\":\"unknown message type '" + type + "'\"}"));
        await scene.StillWorksAsync(mallory);
    });

    private static string HelloWithManyCapabilities(int count)
    {
        // Unknown names, with the known ones (some twice, one misspelled by case) in the middle.
        var names = Enumerable.Range(0, count).Select(n => $"\"x{n}\"").ToList();
        names[count / 3] = "\"rooms\"";
        names[count / 2] = "\"direct\"";
        names[(2 * count) / 3] = "\"rooms\"";
        names[(3 * count) / 4] = "\"Meta\"";
        return "{\"type\":\"hello\",\"nickname\":\"mallory\",\"capabilities\":[" + string.Join(',', names) + "]}";
    }

    /// <summary>
    /// The client reads up to a marker it sends itself: what it heard must be the broker's own
    /// order of the events of its rooms since it joined (the events are published in that order,
    /// under the hub's lock). Returns what it heard before the marker.
    /// </summary>
    private static async Task<List<ServerMessage>> HeardExactlyWhatHappenedAsync(RawClient client, string nickname, ChatMessage marker, EventRecorder events)
    {
        var room = marker.Room;
        var markerBroadcast = new ChatBroadcastMessage(nickname, Marker) { Room = room };
        await client.SendAsync(marker);
        var heard = new List<ServerMessage>();
        while (await client.ReceiveAsync() is var message && message != markerBroadcast)
        {
            heard.Add(message);
        }

        // The bystander (version 1) lives in the lobby; the watcher in the lobby and dev, with room fields.
        var log = events.Snapshot().ToList();
        var versionTwo = room is not null;
        string[] rooms = versionTwo ? [Lobby, Dev] : [Lobby];
        // From the watcher's join of dev on: what came before, the test read as it set up.
        var start = log.FindIndex(e => e is RoomJoinedEvent { Nickname: Watcher, Room: Dev }) + 1;
        bool InMine(string r) => rooms.Contains(r, StringComparer.OrdinalIgnoreCase);
        string? Tag(string r) => versionTwo ? r : null;
        var expected = new List<ServerMessage>();
        foreach (var brokerEvent in log.Skip(start))
        {
            if (brokerEvent is ChatEvent { Text: Marker } chat && chat.Nickname == nickname)
            {
                break;
            }

            ServerMessage? message = brokerEvent switch
            {
                RoomJoinedEvent j when InMine(j.Room) && j.Nickname != nickname => new UserJoinedMessage(j.Nickname) { Room = Tag(j.Room) },
                RoomLeftEvent l when InMine(l.Room) && l.Nickname != nickname => new UserLeftMessage(l.Nickname) { Room = Tag(l.Room) },
                ChatEvent c when InMine(c.Room) => new ChatBroadcastMessage(c.Nickname, c.Text) { Room = Tag(c.Room) },
                DirectMessageEvent d when versionTwo && (d.From == nickname || d.To == nickname) => new DirectDeliveryMessage(d.From, d.To, d.Text),
                _ => null,
            };
            if (message is not null)
            {
                expected.Add(message);
            }
        }

        Assert.That(heard, Is.EqualTo(expected), $"{nickname} heard exactly what the broker did");
        Assert.That(
            heard.OfType<UserLeftMessage>().Select(m => (m.Nickname, m.Room)),
            Is.EquivalentTo(heard.OfType<UserJoinedMessage>().Select(m => (m.Nickname, m.Room))),
            $"{nickname}: a leave for every join, and none without");
        Assert.That(heard.OfType<ErrorMessage>(), Is.Empty, $"{nickname} got no error");
        return heard;
    }

    // A fresh version 1 client takes the nickname, sees the bystander and the watcher, and chats with both.
    private static async Task AssertNicknameIsFreeAsync(IPEndPoint endPoint, RawClient bystander, RawClient watcher, string nickname)
    {
        await using (var fresh = await RawClient.JoinAsync(endPoint, nickname))
        {
            Assert.That(await fresh.ReceiveAsync(), Is.EqualTo(new RosterMessage([Bystander, Watcher])));
            Assert.That(await bystander.ReceiveAsync(), Is.EqualTo(new UserJoinedMessage(nickname)));
            Assert.That(await watcher.ReceiveAsync(), Is.EqualTo(new UserJoinedMessage(nickname) { Room = Lobby }));
            await fresh.SendChatAsync("fresh");
            await fresh.ExpectChatAsync(nickname, "fresh");
            await bystander.ExpectChatAsync(nickname, "fresh");
            Assert.That(await watcher.ReceiveAsync(), Is.EqualTo(new ChatBroadcastMessage(nickname, "fresh") { Room = Lobby }));
        }

        Assert.That(await bystander.ReceiveAsync(), Is.EqualTo(new UserLeftMessage(nickname)));
        Assert.That(await watcher.ReceiveAsync(), Is.EqualTo(new UserLeftMessage(nickname) { Room = Lobby }));
    }

    private static byte[] Utf8(string text) => Encoding.UTF8.GetBytes(text);

    private sealed record BadInput(string Name, Func<Scene, Task> Act)
    {
        public Func<BrokerOptions, BrokerOptions> Configure { get; init; } = options => options;

        /// <summary>Neither the bystander nor the watcher may hear anything of it.</summary>
        public bool Quiet { get; init; }

        /// <summary>Exactly what the watcher hears, when the case says so.</summary>
        public IReadOnlyList<ServerMessage>? WatcherHears { get; init; }

        /// <summary>The nicknames that must be free afterwards.</summary>
        public IReadOnlyList<string> Nicknames { get; init; } = [Mallory];
    }

    /// <summary>What a case works with: connections it opens (closed afterwards) and its assertions.</summary>
    private sealed class Scene(ChatBroker broker, EventRecorder events) : IAsyncDisposable
    {
        private readonly object _lock = new();
        private readonly List<(RawClient Client, EndPoint LocalEndPoint)> _clients = [];

        // What each handshaken client was granted: null for version 1 (it lives in the lobby).
        private readonly Dictionary<RawClient, IReadOnlyList<string>?> _grants = [];

        public ChatBroker Broker => broker;

        public EventRecorder Events => events;

        public async Task<RawClient> ConnectAsync()
        {
            var client = await RawClient.ConnectAsync(broker.LocalEndPoint);
            lock (_lock)
            {
                _clients.Add((client, client.Socket.LocalEndPoint!));
            }

            return client;
        }

        public void Grant(RawClient client, IReadOnlyList<string>? granted)
        {
            lock (_lock)
            {
                _grants[client] = granted;
            }
        }

        /// <summary>A version 1 client in the lobby, with the bystander and the watcher.</summary>
        public async Task<RawClient> JoinV1Async(string nickname = Mallory)
        {
            var client = await ConnectAsync();
            await client.SendAsync(new HelloMessage(nickname));
            Assert.That(await client.ReceiveAsync(), Is.EqualTo(new WelcomeMessage(nickname)));
            Assert.That(await client.ReceiveAsync(), Is.EqualTo(new RosterMessage([Bystander, Watcher])));
            Grant(client, null);
            return client;
        }

        /// <summary>A version 2 client; granted rooms it is in no room, otherwise in the lobby.</summary>
        public async Task<RawClient> JoinV2Async(string nickname = Mallory, IReadOnlyList<string>? asked = null, IReadOnlyList<string>? granted = null, string[]? lobby = null)
            => (await JoinV2WithSessionAsync(nickname, asked, granted, lobby)).Client;

        /// <summary>As <see cref="JoinV2Async"/>; also returns the session secret of its welcome.</summary>
        public async Task<(RawClient Client, string Session)> JoinV2WithSessionAsync(string nickname = Mallory, IReadOnlyList<string>? asked = null, IReadOnlyList<string>? granted = null, string[]? lobby = null)
        {
            asked ??= RoomsAndDirect;
            granted ??= asked;
            var client = await ConnectAsync();
            await client.SendAsync(new HelloMessage(nickname) { Capabilities = asked });
            var welcome = await client.ExpectAsync<WelcomeMessage>();
            Assert.That(welcome with { Session = null, MaxLineLength = null }, Is.EqualTo(new WelcomeMessage(nickname) { Capabilities = granted }));
            Assert.That(welcome.Session, Is.Not.Null);
            if (!granted.Contains(ChatCapabilities.Rooms))
            {
                Assert.That(await client.ReceiveAsync(), Is.EqualTo(new RosterMessage(lobby ?? [Bystander, Watcher])));
            }

            Grant(client, granted);
            return (client, welcome.Session!);
        }

        /// <summary>Joins a room; <paramref name="shownAs"/> is its name as first spelled, when another spelling made it.</summary>
        public static async Task JoinRoomAsync(RawClient client, string room, string[]? others = null, string? shownAs = null)
        {
            await client.SendAsync(new JoinMessage(room));
            Assert.That(await client.ReceiveAsync(), Is.EqualTo(new JoinedMessage(shownAs ?? room, others ?? [])));
        }

        /// <summary>
        /// The connection still works: a version 1 client (or one without rooms) chats in the lobby;
        /// one with rooms lists them (nothing anybody else hears).
        /// </summary>
        public async Task StillWorksAsync(RawClient client, string nickname = Mallory)
        {
            IReadOnlyList<string>? granted;
            lock (_lock)
            {
                granted = _grants[client];
            }

            if (granted is not null && granted.Contains(ChatCapabilities.Rooms))
            {
                await client.SendAsync(new ListRoomsMessage());
                var list = await client.ExpectAsync<RoomListMessage>();
                Assert.That(list.Rooms.Select(r => r.Room), Is.SupersetOf(new[] { Dev, Lobby }));
                return;
            }

            await client.SendChatAsync("still here");
            await client.ExpectChatAsync(nickname, "still here");
        }

        /// <summary>The broker's id for a connection, found by the client's own address.</summary>
        public async Task<long> ConnectionIdAsync(RawClient client)
        {
            EndPoint local;
            lock (_lock)
            {
                local = _clients.Single(c => c.Client == client).LocalEndPoint;
            }

            var connected = await events.WaitForAsync<ClientConnectedEvent>(e => Equals(e.RemoteEndPoint, local));
            return connected.ConnectionId;
        }

        public async Task ErrorThenCloseAsync(RawClient client, string error, DisconnectReason reason)
        {
            await client.ExpectErrorAsync(error);
            Assert.That(await client.WaitForClosedAsync(), Is.Empty, "the broker closes right after the error");
            var id = await ConnectionIdAsync(client);
            var gone = await events.WaitForAsync<ClientDisconnectedEvent>(e => e.ConnectionId == id);
            Assert.That(gone.Reason, Is.EqualTo(reason));
        }

        public async Task ErrorThenOpenAsync(RawClient client, string error)
        {
            await client.ExpectErrorAsync(error);
            await StillWorksAsync(client);
        }

        public async Task WaitUntilEveryConnectionIsClosedAsync()
        {
            await events.WaitForCountAsync<ClientConnectedEvent>(2 + _clients.Count);
            await events.WaitForCountAsync<ClientDisconnectedEvent>(_clients.Count);
        }

        public async ValueTask DisposeAsync()
        {
            foreach (var (client, _) in _clients)
            {
                await client.DisposeAsync();
            }
        }
    }
}
