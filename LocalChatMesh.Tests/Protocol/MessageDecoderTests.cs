using System.Text;
using LocalChatMesh.Protocol;

namespace LocalChatMesh.Tests.Protocol;

public class MessageDecoderTests
{
    private static IEnumerable<ServerMessage> ServerMessages()
    {
        yield return new WelcomeMessage("alice");
        yield return new RosterMessage(["bob", "carol"]);
        yield return new RosterMessage([]);
        yield return new UserJoinedMessage("dave");
        yield return new UserLeftMessage("bob");
        yield return new ChatBroadcastMessage("alice", "hello \"world\" ✓ 🙂 \\ \t");
        yield return new ErrorMessage("you are behind by 3 messages; consider reconnecting");
        yield return new WelcomeMessage("alice") { Capabilities = ["rooms", "meta"], Session = "s3cr3t", MaxLineLength = 8192 };
        yield return new WelcomeMessage("alice") { Capabilities = [], Session = "s" };
        yield return new RosterMessage(["alice", "bob"]) { Room = "dev" };
        yield return new UserJoinedMessage("dave") { Room = "dev" };
        yield return new UserLeftMessage("dave") { Room = "dev" };
        yield return new ChatBroadcastMessage("alice", "hi") { Room = "dev", Id = 42, Time = new DateTimeOffset(2026, 12, 1, 7, 20, 57, 123, TimeSpan.Zero), History = true };
        yield return new JoinedMessage("dev", ["bob"]) { Epoch = "e1", LastId = 0, Recovered = false };
        yield return new JoinedMessage("dev", []);
        yield return new LeftMessage("dev");
        yield return new RoomListMessage([new RoomSummary("dev", 2), new RoomSummary("lobby", 0)]);
        yield return new DirectDeliveryMessage("alice", "bob", "psst") { Id = 7, Time = new DateTimeOffset(2026, 12, 1, 0, 0, 0, TimeSpan.Zero) };
    }

    private static IEnumerable<ClientMessage> ClientMessages()
    {
        yield return new HelloMessage("alice");
        yield return new HelloMessage("alice") { Token = "secret" };
        yield return new ChatMessage("hello world");
        yield return new ChatMessage("ünïcödé 🙂 and a \u0000 nul");
        yield return new HelloMessage("alice") { Capabilities = ["rooms", "direct", "history", "meta"], Session = "abc" };
        yield return new ChatMessage("hi") { Room = "dev" };
        yield return new JoinMessage("dev") { History = 20, After = 41, Epoch = "e1" };
        yield return new JoinMessage("dev");
        yield return new LeaveMessage("dev");
        yield return new ListRoomsMessage();
        yield return new WhoMessage("dev");
        yield return new DirectMessage("bob", "psst");
    }

    [TestCaseSource(nameof(ServerMessages))]
    public void Round_trips_every_server_message(ServerMessage message)
    {
        var line = WithoutNewline(MessageEncoder.Encode(message));

        Assert.That(MessageDecoder.TryDecodeServerMessage(line, out var decoded, out var error), Is.True, error);
        Assert.That(decoded, Is.EqualTo(message));
    }

    [TestCaseSource(nameof(ClientMessages))]
    public void Round_trips_every_client_message(ClientMessage message)
    {
        var line = WithoutNewline(MessageEncoder.Encode(message));

        Assert.That(MessageDecoder.TryDecodeClientMessage(line, out var decoded, out var error), Is.True, error);
        Assert.That(decoded, Is.EqualTo(message));
    }

    [TestCase("""{"nickname":"alice","type":"hello"}""", TestName = "Field order does not matter")]
    [TestCase("""{"type":"hello","nickname":"alice","colour":"red","nested":{"a":[1,2,{"b":null}]}}""", TestName = "Unknown fields are ignored")]
    [TestCase("""  {"type" : "hello", "nickname" : "alice"}  """, TestName = "Whitespace around tokens is allowed")]
    [TestCase("""{"\u0074ype":"hello","nickname":"\u0061lice"}""", TestName = "Escaped names and values are unescaped")]
    public void Accepts_equivalent_spellings_of_a_hello(string json)
    {
        Assert.That(MessageDecoder.TryDecodeClientMessage(Encoding.UTF8.GetBytes(json), out var message, out var error), Is.True, error);
        Assert.That(message, Is.EqualTo(new HelloMessage("alice")));
    }

    [Test]
    public void Ignores_unknown_fields_in_server_messages()
    {
        var json = """{"type":"chat","nickname":"bob","text":"hi","sent_at":12345,"extra":{"x":[true]}}"""u8;

        Assert.That(MessageDecoder.TryDecodeServerMessage(json, out var message, out _), Is.True);
        Assert.That(message, Is.EqualTo(new ChatBroadcastMessage("bob", "hi")));
    }

    [TestCase("{not json", "invalid JSON at byte 1: 'n' is an invalid start of a property name. Expected a '\"'.")]
    [TestCase("{\"type\":\"chat\",\"text\":\"hi\"", "invalid JSON at byte 26: Expected depth to be zero at the end of the JSON payload. There is an open JSON object or array that should be closed.")]
    [TestCase("{\"type\":\"chat\",\"text\":\"hi\"} {}", "invalid JSON at byte 28: '{' is invalid after a single JSON value. Expected end of data.")]
    [TestCase("[1,2]", "invalid message: expected a JSON object")]
    [TestCase("\"hello\"", "invalid message: expected a JSON object")]
    [TestCase("42", "invalid message: expected a JSON object")]
    [TestCase("null", "invalid message: expected a JSON object")]
    [TestCase("{}", "missing field 'type'")]
    [TestCase("{\"type\":7}", "field 'type' must be a string")]
    [TestCase("{\"type\":null}", "field 'type' must be a string")]
    [TestCase("{\"type\":\"dance\"}", "unknown message type 'dance'")]
    [TestCase("{\"type\":\"welcome\",\"nickname\":\"a\"}", "unknown message type 'welcome'")]
    [TestCase("{\"type\":\"hello\"}", "missing field 'nickname'")]
    [TestCase("{\"type\":\"hello\",\"nickname\":null}", "field 'nickname' must be a string")]
    [TestCase("{\"type\":\"hello\",\"nickname\":42}", "field 'nickname' must be a string")]
    [TestCase("{\"type\":\"hello\",\"nickname\":[\"a\"]}", "field 'nickname' must be a string")]
    [TestCase("{\"type\":\"chat\"}", "missing field 'text'")]
    [TestCase("{\"type\":\"chat\",\"text\":{\"a\":1}}", "field 'text' must be a string")]
    [TestCase("{\"type\":\"chat\",\"text\":true}", "field 'text' must be a string")]
    [TestCase("{\"type\":\"chat\",\"text\":\"a\",\"text\":\"b\"}", "duplicate field 'text'")]
    [TestCase("{\"type\":\"chat\",\"text\":\"a\\ud800\"}", "invalid JSON at byte 22: a \\u escape in a string is an unpaired surrogate")]
    [TestCase("{\"type\":\"chat\",\"text\":\"\\udc00\\ud800\"}", "invalid JSON at byte 22: a \\u escape in a string is an unpaired surrogate")]
    [TestCase("{\"type\":\"hello\",\"nickname\":\"a\",\"capabilities\":[\"rooms\",\"\\ud83d\"]}", "invalid JSON at byte 55: a \\u escape in a string is an unpaired surrogate")]
    [TestCase("{\"type\":\"chat\",\"type\":\"hello\",\"text\":\"a\"}", "duplicate field 'type'")]
    public void Describes_each_kind_of_bad_client_line(string json, string expected)
    {
        Assert.That(MessageDecoder.TryDecodeClientMessage(Encoding.UTF8.GetBytes(json), out var message, out var error), Is.False);
        Assert.That(message, Is.Null);
        Assert.That(error, Is.EqualTo(expected));
    }

    // An extension field: a broker without a secret must ignore it like any unknown field.
    [TestCase("5")]
    [TestCase("null")]
    [TestCase("{\"a\":1}")]
    [TestCase("[\"secret\"]")]
    public void A_token_that_is_not_a_string_reads_as_no_token(string token)
    {
        var line = Encoding.UTF8.GetBytes($"{{\"type\":\"hello\",\"nickname\":\"alice\",\"token\":{token}}}");

        Assert.That(MessageDecoder.TryDecodeClientMessage(line, out var message, out var error), Is.True, error);
        Assert.That(message, Is.EqualTo(new HelloMessage("alice")));
    }

    [Test]
    public void Refuses_invalid_utf8()
    {
        byte[] line = [.. """{"type":"chat","text":"caf"""u8, 0xC3, 0x28, .. "\"}"u8];

        Assert.That(MessageDecoder.TryDecodeClientMessage(line, out _, out var error), Is.False);
        Assert.That(error, Is.EqualTo("invalid UTF-8"));
    }

    [Test]
    public void Refuses_deep_nesting_even_in_unknown_fields()
    {
        var deep = new string('[', 1000) + new string(']', 1000);
        var line = Encoding.UTF8.GetBytes($"{{\"type\":\"chat\",\"text\":\"a\",\"x\":{deep}}}");

        Assert.That(MessageDecoder.TryDecodeClientMessage(line, out _, out var error), Is.False);
        Assert.That(error, Does.StartWith("invalid JSON at byte").And.Contain("depth"));
    }

    [Test]
    public void Shortens_a_long_unknown_type_in_the_error()
    {
        var line = Encoding.UTF8.GetBytes($"{{\"type\":\"{new string('x', 500)}\"}}");

        Assert.That(MessageDecoder.TryDecodeClientMessage(line, out _, out var error), Is.False);
        Assert.That(error, Is.EqualTo($"unknown message type '{new string('x', 40)}…'"));
    }

    [TestCase("{\"type\":\"roster\"}", "missing field 'participants'")]
    [TestCase("{\"type\":\"roster\",\"participants\":\"bob\"}", "field 'participants' must be an array of strings")]
    [TestCase("{\"type\":\"roster\",\"participants\":[\"bob\",3]}", "field 'participants' must be an array of strings")]
    [TestCase("{\"type\":\"chat\",\"text\":\"hi\"}", "missing field 'nickname'")]
    [TestCase("{\"type\":\"error\"}", "missing field 'message'")]
    [TestCase("{\"type\":\"chat\",\"nickname\":\"bob\",\"text\":\"\\udfff\"}", "invalid JSON at byte 39: a \\u escape in a string is an unpaired surrogate")]
    [TestCase("{\"type\":\"hello\",\"nickname\":\"a\"}", "unknown message type 'hello'")]
    public void Describes_each_kind_of_bad_server_line(string json, string expected)
    {
        Assert.That(MessageDecoder.TryDecodeServerMessage(Encoding.UTF8.GetBytes(json), out _, out var error), Is.False);
        Assert.That(error, Is.EqualTo(expected));
    }

    private static byte[] WithoutNewline(byte[] frame)
    {
        Assert.That(frame[^1], Is.EqualTo((byte)'\n'));
        return frame[..^1];
    }
}
