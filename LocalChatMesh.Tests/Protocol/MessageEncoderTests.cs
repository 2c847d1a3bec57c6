using System.Text;
using LocalChatMesh.Protocol;

namespace LocalChatMesh.Tests.Protocol;

public class MessageEncoderTests
{
    // Every example line of PROTOCOL.md, byte for byte: this pins field names and the discriminator.
    private static IEnumerable<TestCaseData> ProtocolExamples()
    {
        yield return Case(new HelloMessage("alice"), """{"type":"hello","nickname":"alice"}""");
        yield return Case(new WelcomeMessage("alice"), """{"type":"welcome","nickname":"alice"}""");
        yield return Case(new RosterMessage(["bob", "carol"]), """{"type":"roster","participants":["bob","carol"]}""");
        yield return Case(new UserJoinedMessage("dave"), """{"type":"user_joined","nickname":"dave"}""");
        yield return Case(new ChatBroadcastMessage("alice", "hello world"), """{"type":"chat","nickname":"alice","text":"hello world"}""");
        yield return Case(new UserLeftMessage("bob"), """{"type":"user_left","nickname":"bob"}""");
        yield return Case(new ErrorMessage("nickname 'alice' is already in use"), """{"type":"error","message":"nickname 'alice' is already in use"}""");
        yield return Case(new ChatMessage("hello world"), """{"type":"chat","text":"hello world"}""");
    }

    private static TestCaseData Case(object message, string json) =>
        new TestCaseData(message, json).SetArgDisplayNames(json);

    [TestCaseSource(nameof(ProtocolExamples))]
    public void Encodes_the_protocol_examples_exactly(object message, string json)
    {
        var bytes = message switch
        {
            ServerMessage server => MessageEncoder.Encode(server),
            ClientMessage client => MessageEncoder.Encode(client),
            _ => throw new ArgumentException("not a message", nameof(message)),
        };

        Assert.That(Encoding.UTF8.GetString(bytes), Is.EqualTo(json + "\n"));
    }

    [Test]
    public void Writes_non_ascii_text_as_raw_utf8_and_escapes_what_json_requires()
    {
        // System.Text.Json escapes characters outside the Basic Multilingual Plane as surrogate
        // pairs; that is valid JSON that every peer decodes to the same text.
        var bytes = MessageEncoder.Encode(new ChatBroadcastMessage("zoë", "<b>\"hi\"\n\u001b</b> 🙂"));

        Assert.That(
            Encoding.UTF8.GetString(bytes),
            Is.EqualTo("{\"type\":\"chat\",\"nickname\":\"zoë\",\"text\":\"<b>\\\"hi\\\"\\n\\u001B</b> \\uD83D\\uDE42\"}\n"));
    }

    [Test]
    public void Omits_the_token_of_a_hello_unless_it_is_set()
    {
        var withToken = MessageEncoder.Encode(new HelloMessage("alice") { Token = "s3cret" });

        Assert.That(Encoding.UTF8.GetString(withToken), Is.EqualTo("""{"type":"hello","nickname":"alice","token":"s3cret"}""" + "\n"));
    }

    [Test]
    public void Each_encoding_returns_a_fresh_array()
    {
        var first = MessageEncoder.Encode(new UserLeftMessage("a"));
        var second = MessageEncoder.Encode(new UserLeftMessage("a"));

        Assert.That(first, Is.Not.SameAs(second));
        Assert.That(first, Is.EqualTo(second));
    }
}
