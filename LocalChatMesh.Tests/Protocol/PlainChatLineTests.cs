using System.Text;
using LocalChatMesh.Protocol;

namespace LocalChatMesh.Tests.Protocol;

/// <summary>
/// The decoder reads a chat of the plain shape without the JSON reader (<see cref="PlainChatLine"/>).
/// What it reads must be exactly what the general path reads, and every line that is not of that
/// shape must go to the general path: checked here against <see cref="MessageDecoder.DecodeWithReader"/>
/// on chosen lines and on lines mutated at random around the shape.
/// </summary>
public class PlainChatLineTests
{
    [TestCase("{\"type\":\"chat\",\"text\":\"hello\"}", "hello", null)]
    [TestCase("{\"type\":\"chat\",\"text\":\"hello\",\"room\":\"dev\"}", "hello", "dev")]
    [TestCase("{\"type\":\"chat\",\"text\":\"\"}", "", null)]
    [TestCase("{\"type\":\"chat\",\"text\":\"   \"}", "   ", null)]
    [TestCase("{\"type\":\"chat\",\"text\":\"héllo 🎉 \u2028 del\u007f\",\"room\":\"café\"}", "héllo 🎉 \u2028 del\u007f", "café", TestName = "non-ASCII, a line separator and DEL")]
    [TestCase("{\"type\":\"chat\",\"text\":\"a/b <c> & 'd'\",\"room\":\"\"}", "a/b <c> & 'd'", "")]
    public void A_plain_chat_is_read_without_the_JSON_reader_to_what_the_reader_gives(string line, string text, string? room)
    {
        var bytes = Encoding.UTF8.GetBytes(line);

        Assert.That(PlainChatLine.TryRead(bytes, out var chat), Is.True);
        Assert.That(chat!.Text, Is.EqualTo(text));
        Assert.That(chat.Room, Is.EqualTo(room));
        AssertSameReading(bytes);
    }

    [TestCase("{\"type\":\"chat\",\"text\":\"say \\\"hi\\\"\"}", TestName = "an escaped quote in the text")]
    [TestCase("{\"type\":\"chat\",\"text\":\"a\\nb\"}", TestName = "an escape in the text")]
    [TestCase("{\"type\":\"chat\",\"text\":\"\\u00e9\"}", TestName = "a unicode escape in the text")]
    [TestCase("{\"type\":\"chat\",\"text\":\"\\ud800\"}", TestName = "an unpaired surrogate escape")]
    [TestCase("{\"type\":\"chat\",\"text\":\"a\tb\"}", TestName = "a raw tab in the text")]
    [TestCase("{\"type\":\"chat\",\"text\":\"a\u0001b\"}", TestName = "a raw control character in the text")]
    [TestCase("{\"type\":\"chat\",\"text\":\"hi\",\"room\":\"d\\u0065v\"}", TestName = "an escape in the room")]
    [TestCase("{\"type\":\"chat\",\"text\":\"hi\",\"room\":\"d\u0001v\"}", TestName = "a control character in the room")]
    [TestCase("{\"type\":\"chat\",\"text\":\"hi\",\"room\":null}", TestName = "a null room")]
    [TestCase("{\"type\":\"chat\",\"text\":\"hi\",\"room\":5}", TestName = "a number for the room")]
    [TestCase("{\"type\":\"chat\",\"text\":\"hi\",\"room\":\"dev\",\"x\":1}", TestName = "a field after the room")]
    [TestCase("{\"type\":\"chat\",\"text\":\"hi\",\"room\":\"a\",\"room\":\"b\"}", TestName = "the room twice")]
    [TestCase("{\"type\":\"chat\",\"text\":\"hi\",\"text\":\"again\"}", TestName = "the text twice")]
    [TestCase("{\"type\":\"chat\",\"room\":\"dev\",\"text\":\"hi\"}", TestName = "the room before the text")]
    [TestCase("{\"text\":\"hi\",\"type\":\"chat\"}", TestName = "the text before the type")]
    [TestCase("{ \"type\":\"chat\",\"text\":\"hi\"}", TestName = "a space inside")]
    [TestCase("{\"type\":\"chat\",\"text\":\"hi\"} ", TestName = "a space after")]
    [TestCase("{\"type\":\"chat\",\"text\":\"hi\"}{}", TestName = "a second value")]
    [TestCase("{\"type\":\"chat\",\"text\":\"hi\"", TestName = "no closing brace")]
    [TestCase("{\"type\":\"chat\",\"text\":\"hi", TestName = "no closing quote")]
    [TestCase("{\"type\":\"chat\",\"text\":5}", TestName = "a number for the text")]
    [TestCase("{\"type\":\"chats\",\"text\":\"hi\"}", TestName = "another type")]
    [TestCase("{\"type\":\"chat\",\"text\":\"hi\",\"room\":\"dev\"", TestName = "a room and no closing brace")]
    public void Any_other_line_goes_to_the_general_path(string line)
    {
        var bytes = Encoding.UTF8.GetBytes(line);

        Assert.That(PlainChatLine.TryRead(bytes, out _), Is.False);
        AssertSameReading(bytes);
    }

    [TestCase(new byte[] { 0xC3 }, TestName = "a cut two-byte sequence in the text")]
    [TestCase(new byte[] { 0xFF }, TestName = "a byte that is never UTF-8 in the text")]
    [TestCase(new byte[] { 0xED, 0xA0, 0x80 }, TestName = "a surrogate encoded in UTF-8 in the text")]
    [TestCase(new byte[] { 0xC0, 0xAF }, TestName = "an overlong encoding in the text")]
    public void Text_that_is_not_UTF_8_goes_to_the_general_path(byte[] invalid)
    {
        byte[] line = [.. "{\"type\":\"chat\",\"text\":\"a"u8, .. invalid, .. "b\"}"u8];
        byte[] inRoom = [.. "{\"type\":\"chat\",\"text\":\"hi\",\"room\":\"a"u8, .. invalid, .. "\"}"u8];

        Assert.That(PlainChatLine.TryRead(line, out _), Is.False);
        Assert.That(PlainChatLine.TryRead(inRoom, out _), Is.False);
        Assert.That(MessageDecoder.DecodeClientMessage(line), Is.EqualTo(new UnreadableLine("invalid UTF-8")));
        AssertSameReading(line);
        AssertSameReading(inRoom);
    }

    [Test]
    public void Lines_mutated_around_the_plain_shape_read_the_same_on_both_paths()
    {
        // Fixed seed: a failure names a line that fails again. The mutations are the bytes that
        // matter to either path (quotes, escapes, controls, braces, commas, spaces, non-ASCII and
        // invalid UTF-8), put in, replaced or cut anywhere, one to three times a line.
        var random = new Random(20261207);
        byte[][] templates =
        [
            "{\"type\":\"chat\",\"text\":\"hello there\"}"u8.ToArray(),
            "{\"type\":\"chat\",\"text\":\"hello there\",\"room\":\"dev\"}"u8.ToArray(),
        ];
        byte[] pieces = [(byte)'"', (byte)'\\', (byte)'u', (byte)'n', 0x00, 0x09, 0x1F, 0x7F, (byte)'{', (byte)'}', (byte)',', (byte)':', (byte)' ', 0xC3, 0xA9, 0xF0, 0x9F, 0xFF, (byte)'x'];
        var plain = 0;
        for (var i = 0; i < 30_000; i++)
        {
            var line = templates[random.Next(templates.Length)].ToList();
            for (var mutation = random.Next(1, 4); mutation > 0 && line.Count > 0; mutation--)
            {
                var at = random.Next(line.Count);
                switch (random.Next(3))
                {
                    case 0:
                        line.Insert(at, pieces[random.Next(pieces.Length)]);
                        break;
                    case 1:
                        line[at] = pieces[random.Next(pieces.Length)];
                        break;
                    default:
                        line.RemoveAt(at);
                        break;
                }
            }

            var bytes = line.ToArray();
            plain += PlainChatLine.TryRead(bytes, out _) ? 1 : 0;
            AssertSameReading(bytes);
        }

        // Both kinds were tried: lines the plain path read, and lines it left to the reader.
        Assert.That(plain, Is.InRange(1_000, 29_000));
    }

    // The decoder (with its plain path) and the JSON reader alone read the line to the same
    // message or the same error; a chat's text bytes are the same too.
    private static void AssertSameReading(byte[] line)
    {
        var decoded = MessageDecoder.DecodeClientMessage(line);
        var general = MessageDecoder.DecodeWithReader(line);
        var shown = Encoding.UTF8.GetString(line);

        Assert.That(decoded, Is.EqualTo(general), shown);
        if (decoded is ChatMessage chat)
        {
            Assert.That(chat.Utf8Text, Is.EqualTo(((ChatMessage)general).Utf8Text), shown);
        }
    }
}
