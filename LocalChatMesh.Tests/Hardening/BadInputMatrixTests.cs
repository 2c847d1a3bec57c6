using System.Net;
using System.Net.Sockets;
using System.Text;
using LocalChatMesh.Protocol;
using LocalChatMesh.Tests.Support;
using Microsoft.Reactive.Testing;

namespace LocalChatMesh.Tests.Hardening;

/// <summary>
/// Bad input over raw sockets against a real broker, one named case at a time. Each case asserts
/// its exact outcome (an error with its exact text and the connection kept, an error then close,
/// or a silent close). Then the same checks run after every case: a bystander who joined first
/// heard exactly what the broker did, a leave for every join and none without; nobody holds a
/// ghost nickname; and the broker's accounting is back to one connection with nothing queued.
/// Texts come from PROTOCOL.md, docs/protocol.md and the code (MessageDecoder, ChatHub, NicknameRules).
/// </summary>
public class BadInputMatrixTests
{
    private const string Bystander = "bystander";
    private const string Mallory = "mallory";
    private const int LineLimit = LineFramer.DefaultMaxLineLength;
    private const string TooLong = "line exceeds the limit of 8192 bytes";
    private const string BadCharacters = "nickname cannot contain control, format or whitespace characters";

    private static readonly Dictionary<string, BadInput> Cases = AllCases().ToDictionary(c => c.Name);

    public static IEnumerable<string> CaseNames => Cases.Keys;

    [TestCaseSource(nameof(CaseNames))]
    public async Task Gets_its_exact_outcome_and_leaves_no_trace(string name)
    {
        var badInput = Cases[name];
        var clock = badInput.VirtualTime ? new TestScheduler() : null;
        await using var broker = await TestBroker.StartAsync(o => badInput.Configure(clock is null ? o : o with { Scheduler = clock }));
        using var events = new EventRecorder(broker);
        using var gauges = new BrokerGauges(broker);
        await using var bystander = await RawClient.JoinAsync(broker.LocalEndPoint, Bystander);

        var scene = new Scene(broker.LocalEndPoint, events, clock);
        try
        {
            await badInput.Act(scene);
        }
        finally
        {
            await scene.DisposeAsync();
        }

        await scene.WaitUntilEveryConnectionIsClosedAsync();
        await AssertHeardExactlyWhatHappenedAsync(bystander, events);
        Assert.That(broker.Participants, Is.EqualTo(new[] { Bystander }), "no ghost among the participants");
        await AssertNicknameIsFreeAsync(broker.LocalEndPoint, bystander, badInput.Nickname);
        await gauges.WaitForBaselineAsync(connections: 1);
    }

    private static IEnumerable<BadInput> AllCases()
    {
        // Framing and encoding.
        yield return new("over-long line, then a newline and a valid chat", async scene =>
        {
            var mallory = await scene.JoinAsync();
            await mallory.SendAsync(Utf8(ChatLine(new string('x', LineLimit)) + "\n" + ChatLine("after") + "\n"));
            await scene.ErrorThenCloseAsync(mallory, TooLong, DisconnectReason.LineTooLong);
            Assert.That(scene.Events.Snapshot().OfType<ChatEvent>(), Is.Empty, "nothing after the over-long line is read");
        });
        yield return new("over-long line that never ends", async scene =>
        {
            var mallory = await scene.JoinAsync();

            // The broker answers before the send is over; it reads and discards the rest.
            var sending = Task.Run(() => mallory.SendAsync(Utf8("{\"type\":\"chat\",\"text\":\"" + new string('x', 64 * 1024))));
            await scene.ErrorThenCloseAsync(mallory, TooLong, DisconnectReason.LineTooLong);
            await sending.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        });
        yield return AfterJoin("invalid UTF-8 in a chat", [.. "{\"type\":\"chat\",\"text\":\"caf"u8, 0xC3, 0x28, .. "\"}\n"u8], "invalid UTF-8");
        yield return BeforeHello("invalid UTF-8 (an encoded surrogate) in a hello", [.. "{\"type\":\"hello\",\"nickname\":\"mal"u8, 0xED, 0xA0, 0x80, .. "lory\"}\n"u8], "invalid UTF-8");
        yield return AfterJoin("a NUL byte inside a string", [.. "{\"type\":\"chat\",\"text\":\"a"u8, 0x00, .. "b\"}\n"u8], "invalid JSON at byte 24: '0x00' is invalid within a JSON string. The string should be correctly escaped.");
        yield return BeforeHello("a NUL byte as the first line", [0x00, (byte)'\n'], "invalid JSON at byte 0: '0x00' is an invalid start of a value.");

        // JSON syntax, but not text: the reader refuses a lone surrogate only when the string is read.
        yield return AfterJoin("an unpaired surrogate escape in a chat", """{"type":"chat","text":"a\ud800"}""", "invalid JSON at byte 22: a \\u escape in a string is an unpaired surrogate");
        yield return AfterJoin("an unpaired surrogate escape in a field name", """{"type":"chat","\udc00":1,"text":"a"}""", "invalid JSON at byte 15: a \\u escape in a string is an unpaired surrogate");
        yield return BeforeHello("an unpaired surrogate escape in a hello", """{"type":"hello","nickname":"\udc00x"}""", "invalid JSON at byte 27: a \\u escape in a string is an unpaired surrogate");

        // Shape and size.
        yield return AfterJoin("nesting 41 levels deep", "{\"type\":\"chat\",\"text\":\"a\",\"x\":" + new string('[', 40) + new string(']', 40) + "}", "invalid JSON at byte 61: The maximum configured depth of 32 has been exceeded. Cannot read next JSON array.");
        yield return Relayed("a huge array in an unknown field, under the line limit", "{\"type\":\"chat\",\"text\":\"big\",\"x\":[" + HugeArray() + "]}", "big");
        yield return Relayed("a huge text, under the line limit", ChatLine(new string('y', LineLimit - 100)), new string('y', LineLimit - 100));
        yield return AfterJoin("a huge array as the text", "{\"type\":\"chat\",\"text\":[" + HugeArray() + "]}", "field 'text' must be a string");
        yield return AfterJoin("a JSON array instead of an object", """[{"type":"chat","text":"hi"}]""", "invalid message: expected a JSON object");
        yield return AfterJoin("null instead of an object", "null", "invalid message: expected a JSON object");
        yield return AfterJoin("two objects on one line", """{"type":"chat","text":"a"}{"type":"chat","text":"b"}""", "invalid JSON at byte 26: '{' is invalid after a single JSON value. Expected end of data.");

        // Wrong types and nulls, field by field.
        yield return AfterJoin("type is a number", """{"type":7,"text":"hi"}""", "field 'type' must be a string");
        yield return AfterJoin("type is null", """{"type":null,"text":"hi"}""", "field 'type' must be a string");
        yield return BeforeHello("type is an object", """{"type":{"hello":1},"nickname":"mallory"}""", "field 'type' must be a string");
        yield return BeforeHello("nickname is a number", """{"type":"hello","nickname":42}""", "field 'nickname' must be a string");
        yield return BeforeHello("nickname is null", """{"type":"hello","nickname":null}""", "field 'nickname' must be a string");
        yield return BeforeHello("nickname is an array", """{"type":"hello","nickname":["mallory"]}""", "field 'nickname' must be a string");
        yield return AfterJoin("text is a boolean", """{"type":"chat","text":true}""", "field 'text' must be a string");
        yield return AfterJoin("text is null", """{"type":"chat","text":null}""", "field 'text' must be a string");

        // Without a secret the token is an unknown field, ignored whatever its type.
        yield return Welcomed("token is a number", """{"type":"hello","nickname":"mallory","token":5}""");
        yield return Welcomed("token is null", """{"type":"hello","nickname":"mallory","token":null}""");

        // Duplicate keys.
        yield return AfterJoin("text given twice", """{"type":"chat","text":"a","text":"b"}""", "duplicate field 'text'");
        yield return BeforeHello("type given twice, once escaped", """{"type":"hello","t\u0079pe":"chat","nickname":"mallory"}""", "duplicate field 'type'");

        // The first message is not a hello.
        yield return BeforeHello("a chat before hello", """{"type":"chat","text":"hi"}""", "expected a hello message first");
        yield return BeforeHello("an unknown type before hello", """{"type":"dance","nickname":"mallory"}""", "unknown message type 'dance'");
        yield return BeforeHello("a server's welcome before hello", """{"type":"welcome","nickname":"mallory"}""", "unknown message type 'welcome'");
        yield return BeforeHello("a server's error before hello", """{"type":"error","message":"hi"}""", "unknown message type 'error'");

        // Hellos and nicknames.
        yield return Welcomed("a hello with extra fields", """{"type":"hello","colour":"red","nickname":"mallory","v":[1,{"a":null}]}""");
        yield return new("a second hello, with another nickname", async scene =>
        {
            var mallory = await scene.JoinAsync();
            await mallory.SendAsync(new HelloMessage("eve"));
            await Scene.ErrorThenOpenAsync(mallory, "already connected");
        }) { Nickname = "eve" };
        yield return BeforeHello("an empty nickname", Hello(" \\t "), "nickname cannot be empty");
        yield return BeforeHello("a 33-character nickname", Hello(new string('m', 33)), "nickname cannot be longer than 32 characters");
        yield return BeforeHello("the bystander's nickname in capitals", Hello("BYSTANDER"), "nickname 'BYSTANDER' is already in use");
        yield return BeforeHello("the bystander's nickname in full-width letters, padded", Hello(" ｂｙｓｔａｎｄｅｒ\\t"), "nickname 'ｂｙｓｔａｎｄｅｒ' is already in use");
        yield return Welcomed("leading and trailing whitespace is trimmed", Hello("\\t mallory\u3000 "));
        yield return BeforeHello("an escaped NUL in the nickname", Hello("mal\\u0000lory"), BadCharacters);
        yield return BeforeHello("a bell in the nickname", Hello("mallory\\u0007"), BadCharacters);
        yield return BeforeHello("a bidi override in the nickname", Hello("\u202Emallory"), BadCharacters);
        yield return BeforeHello("a zero-width space after the bystander's nickname", Hello("bystander\u200B"), BadCharacters);

        // Connections that misbehave as connections.
        yield return new("silence until the handshake timeout", async scene =>
        {
            var silent = await scene.ConnectAsync();
            await scene.ConnectionIdAsync(silent);
            await scene.SettleAsync();

            // Virtual time: a tick before the timeout nothing happens; at the timeout it fires.
            scene.Clock.AdvanceBy(TimeSpan.FromSeconds(2).Ticks - 1);
            Assert.That(scene.Events.Snapshot().OfType<ClientErrorEvent>().Select(e => e.Message), Has.None.StartWith("handshake"));
            scene.Clock.AdvanceBy(1);
            await scene.ErrorThenCloseAsync(silent, "handshake timed out: no hello within 2 s", DisconnectReason.HandshakeTimeout);
        }) { VirtualTime = true, Configure = o => o with { HandshakeTimeout = TimeSpan.FromSeconds(2) } };
        yield return new("half a hello, then close", async scene =>
        {
            var client = await scene.ConnectAsync();
            await client.SendAsync("{\"type\":\"hello\",\"nickname\":\"mal"u8.ToArray());
            client.Socket.Shutdown(SocketShutdown.Send);
            Assert.That(await client.WaitForClosedAsync(), Is.Empty, "a partial line at the end is dropped without a word");
            await scene.SilentCloseAsync(client, DisconnectReason.ClientClosed);
        });
        yield return new("half a chat after joining, then close", async scene =>
        {
            var mallory = await scene.JoinAsync();
            await mallory.SendAsync("{\"type\":\"chat\",\"text\":\"half a li"u8.ToArray());
            mallory.Socket.Shutdown(SocketShutdown.Send);
            Assert.That(await mallory.WaitForClosedAsync(), Is.Empty, "a partial line at the end is dropped without a word");
            await scene.SilentCloseAsync(mallory, DisconnectReason.ClientClosed);
        });
        yield return new("a reset in the middle of a line", async scene =>
        {
            var mallory = await scene.JoinAsync();
            await mallory.SendAsync("{\"type\":\"chat\",\"te"u8.ToArray());
            mallory.Reset();
            await scene.SilentCloseAsync(mallory, DisconnectReason.TransportError, DisconnectReason.ClientClosed);
        });
        yield return new("connect and close at once", async scene =>
        {
            var quitter = await scene.ConnectAsync();
            await quitter.DisposeAsync();
            await scene.SilentCloseAsync(quitter, DisconnectReason.ClientClosed);
        });
        yield return new("connections past MaxClients", async scene =>
        {
            // The bystander, a joined filler and a connection mid-handshake take all three places.
            var filler = await scene.JoinAsync("filler");
            var waiting = await scene.ConnectAsync();
            await scene.ConnectionIdAsync(waiting);
            var extra = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => scene.ConnectAsync()));
            await Task.WhenAll(extra.Select(client => scene.ErrorThenCloseAsync(client, "server is full", DisconnectReason.ServerFull)));
            await Scene.StillChatsAsync(filler, "filler");
            await waiting.SendAsync(new HelloMessage(Mallory));
            await Scene.ExpectWelcomeAsync(waiting, Mallory, others: ["filler"]);
        }) { Configure = o => o with { MaxClients = 3 }, Nickname = "filler" };
        yield return new("a flood past the rate limit", async scene =>
        {
            var mallory = await scene.JoinAsync();

            // Fifty chats in one write, then a second hello whose answer marks the end of the flood.
            var flood = string.Concat(Enumerable.Range(0, 50).Select(n => ChatLine($"flood {n}") + "\n"));
            await mallory.SendAsync(Utf8(flood + Hello(Mallory) + "\n"));
            for (var n = 0; n < 5; n++)
            {
                await mallory.ExpectChatAsync(Mallory, $"flood {n}");
            }

            await mallory.ExpectErrorAsync("rate limit exceeded: at most 5 messages per second; messages are dropped until you slow down");
            await mallory.ExpectErrorAsync("already connected");

            // Virtual time stands still until the test moves it: a second refills the bucket.
            scene.Clock.AdvanceBy(TimeSpan.FromSeconds(1).Ticks);
            await Scene.StillChatsAsync(mallory);
        }) { VirtualTime = true, Configure = o => o with { MaxMessagesPerSecond = 5 } };
    }

    // Before the handshake a bad line gets an error naming the problem, then the connection closes.
    private static BadInput BeforeHello(string name, string line, string error) => BeforeHello(name, Utf8(line + "\n"), error);

    private static BadInput BeforeHello(string name, byte[] bytes, string error) => new(name, async scene =>
    {
        var client = await scene.ConnectAsync();
        await client.SendAsync(bytes);
        await scene.ErrorThenCloseAsync(client, error, DisconnectReason.HandshakeRefused);
    });

    // After the handshake a bad line gets an error naming the problem, and the connection stays.
    private static BadInput AfterJoin(string name, string line, string error) => AfterJoin(name, Utf8(line + "\n"), error);

    private static BadInput AfterJoin(string name, byte[] bytes, string error) => new(name, async scene =>
    {
        var mallory = await scene.JoinAsync();
        await mallory.SendAsync(bytes);
        await Scene.ErrorThenOpenAsync(mallory, error);
    });

    // Odd but valid: a hello that is welcomed as mallory.
    private static BadInput Welcomed(string name, string helloLine) => new(name, async scene =>
    {
        var mallory = await scene.ConnectAsync();
        await mallory.SendLineAsync(helloLine);
        await Scene.ExpectWelcomeAsync(mallory, Mallory);
        await Scene.StillChatsAsync(mallory);
    });

    // Odd but valid: a chat line that is relayed with this text.
    private static BadInput Relayed(string name, string line, string text) => new(name, async scene =>
    {
        var mallory = await scene.JoinAsync();
        Assert.That(Encoding.UTF8.GetByteCount(line), Is.LessThanOrEqualTo(LineLimit));
        await mallory.SendLineAsync(line);
        await mallory.ExpectChatAsync(Mallory, text);
        await Scene.StillChatsAsync(mallory);
    });

    /// <summary>
    /// The bystander reads up to a marker it sends itself: what it heard must be the broker's own
    /// order of joins, leaves and chats since it joined (the events are published in that order).
    /// </summary>
    private static async Task AssertHeardExactlyWhatHappenedAsync(RawClient bystander, EventRecorder events)
    {
        const string Marker = "bystander check";
        await bystander.SendChatAsync(Marker);
        var heard = new List<ServerMessage>();
        while (await bystander.ReceiveAsync() is var message && message != new ChatBroadcastMessage(Bystander, Marker))
        {
            heard.Add(message);
        }

        var log = events.Snapshot();
        var joined = log.ToList().FindIndex(e => e is ClientJoinedEvent { Nickname: Bystander });
        var expected = log.Skip(joined + 1)
            .TakeWhile(e => e is not ChatEvent { Nickname: Bystander, Text: Marker })
            .Select(AsBroadcast)
            .OfType<ServerMessage>();
        Assert.That(heard, Is.EqualTo(expected), "the bystander heard exactly what the broker did");
        Assert.That(
            heard.OfType<UserLeftMessage>().Select(m => m.Nickname),
            Is.EquivalentTo(heard.OfType<UserJoinedMessage>().Select(m => m.Nickname)),
            "a leave for every join, and none without");
    }

    private static ServerMessage? AsBroadcast(BrokerEvent brokerEvent) => brokerEvent switch
    {
        ClientJoinedEvent joined => new UserJoinedMessage(joined.Nickname),
        ClientDisconnectedEvent { Nickname: { } left } => new UserLeftMessage(left),
        ChatEvent chat => new ChatBroadcastMessage(chat.Nickname, chat.Text),
        _ => null,
    };

    // A fresh client takes the nickname, sees nobody but the bystander, and chats both ways.
    private static async Task AssertNicknameIsFreeAsync(IPEndPoint endPoint, RawClient bystander, string nickname)
    {
        await using (var fresh = await RawClient.JoinAsync(endPoint, nickname))
        {
            Assert.That(await fresh.ReceiveAsync(), Is.EqualTo(new RosterMessage([Bystander])));
            Assert.That(await bystander.ReceiveAsync(), Is.EqualTo(new UserJoinedMessage(nickname)));
            await fresh.SendChatAsync("fresh");
            await fresh.ExpectChatAsync(nickname, "fresh");
            await bystander.ExpectChatAsync(nickname, "fresh");
        }

        Assert.That(await bystander.ReceiveAsync(), Is.EqualTo(new UserLeftMessage(nickname)));
    }

    private static byte[] Utf8(string text) => Encoding.UTF8.GetBytes(text);

    private static string ChatLine(string text) => "{\"type\":\"chat\",\"text\":\"" + text + "\"}";

    // Written by hand, not encoded, so that characters reach the broker raw; the caller escapes
    // what JSON requires.
    private static string Hello(string nickname) => "{\"type\":\"hello\",\"nickname\":\"" + nickname + "\"}";

    // About 8 KB of "0,0,…", leaving room for the rest of the line under the limit.
    private static string HugeArray() => string.Join(',', Enumerable.Repeat("0", (LineLimit - 100) / 2));

    private sealed record BadInput(string Name, Func<Scene, Task> Act)
    {
        public Func<BrokerOptions, BrokerOptions> Configure { get; init; } = options => options;

        /// <summary>
        /// The broker's time rules run on a TestScheduler that the case moves by hand: exact
        /// outcomes, and a busy machine cannot time out the bystander's own handshake.
        /// </summary>
        public bool VirtualTime { get; init; }

        /// <summary>The nickname that must be free afterwards.</summary>
        public string Nickname { get; init; } = Mallory;
    }

    /// <summary>What a case works with: connections it opens (closed afterwards) and its assertions.</summary>
    private sealed class Scene(IPEndPoint endPoint, EventRecorder events, TestScheduler? clock) : IAsyncDisposable
    {
        private readonly object _lock = new();
        private readonly List<(RawClient Client, EndPoint LocalEndPoint)> _clients = [];

        public EventRecorder Events => events;

        public TestScheduler Clock => clock ?? throw new InvalidOperationException("this case does not run on virtual time");

        public static async Task StillChatsAsync(RawClient client, string nickname = Mallory)
        {
            await client.SendChatAsync("still here");
            await client.ExpectChatAsync(nickname, "still here");
        }

        public async Task<RawClient> ConnectAsync()
        {
            var client = await RawClient.ConnectAsync(endPoint);
            lock (_lock)
            {
                _clients.Add((client, client.Socket.LocalEndPoint!));
            }

            return client;
        }

        /// <summary>Connects and joins; the roster shows the bystander alone.</summary>
        public async Task<RawClient> JoinAsync(string nickname = Mallory)
        {
            var client = await ConnectAsync();
            await client.SendAsync(new HelloMessage(nickname));
            await ExpectWelcomeAsync(client, nickname);
            return client;
        }

        public static async Task ExpectWelcomeAsync(RawClient client, string nickname, string[]? others = null)
        {
            Assert.That(await client.ReceiveAsync(), Is.EqualTo(new WelcomeMessage(nickname)));
            Assert.That(await client.ReceiveAsync(), Is.EqualTo(new RosterMessage([Bystander, .. others ?? []])));
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

        public static async Task ErrorThenOpenAsync(RawClient client, string error)
        {
            await client.ExpectErrorAsync(error);
            await StillChatsAsync(client);
        }

        public async Task SilentCloseAsync(RawClient client, params DisconnectReason[] reasons)
        {
            var id = await ConnectionIdAsync(client);
            var gone = await events.WaitForAsync<ClientDisconnectedEvent>(e => e.ConnectionId == id);
            Assert.That(reasons, Does.Contain(gone.Reason));
            Assert.That(events.Snapshot().OfType<ClientErrorEvent>().Where(e => e.ConnectionId == id), Is.Empty, "no error was sent");
        }

        /// <summary>
        /// Returns once the broker has handled the opening of every connection made so far (the
        /// hub opens them one at a time, in order): a throwaway connection is refused and gone.
        /// Moving a TestScheduler is not thread-safe, so the broker must be idle first.
        /// </summary>
        public async Task SettleAsync()
        {
            var probe = await ConnectAsync();
            await probe.SendChatAsync("settle");
            await ErrorThenCloseAsync(probe, "expected a hello message first", DisconnectReason.HandshakeRefused);
        }

        public async Task WaitUntilEveryConnectionIsClosedAsync()
        {
            await events.WaitForCountAsync<ClientConnectedEvent>(1 + _clients.Count);
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
