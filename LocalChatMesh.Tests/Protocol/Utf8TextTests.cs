using System.Text;
using LocalChatMesh.Hub.Rooms;
using LocalChatMesh.Protocol;

namespace LocalChatMesh.Tests.Protocol;

/// <summary>
/// A chat's text kept as the line's UTF-8 on the broker's path: what it says must be what the same
/// text as a string says, for the blank check, the decoded message and every frame made from it.
/// </summary>
public class Utf8TextTests
{
    // Every whitespace character .NET knows, the nearest non-whitespace ones, and text around them.
    private static IEnumerable<string> Samples()
    {
        var whitespace = Enumerable.Range(0, 0x10000).Where(c => c is < 0xD800 or > 0xDFFF && char.IsWhiteSpace((char)c)).Select(c => ((char)c).ToString()).ToList();
        Assert.That(whitespace, Has.Count.GreaterThan(20), "the Unicode whitespace set, not just ASCII");
        yield return string.Empty;
        foreach (var space in whitespace)
        {
            yield return space;
            yield return space + space + "x";
            yield return "x" + space;
        }

        yield return string.Concat(whitespace);
        yield return string.Concat(whitespace) + "🎉";
        yield return "\u200B";   // zero-width space: a format character, not whitespace
        yield return "\uFEFF";
        yield return "\u180E";   // Mongolian vowel separator: whitespace in old Unicode, not now
        yield return "🎉";
        yield return "\u00A0\u3000日本";
    }

    [Test]
    public void A_text_is_blank_exactly_when_its_string_is_null_or_whitespace()
    {
        foreach (var text in Samples().Concat(RandomTexts(20_000, seed: 7)))
        {
            Assert.That(Utf8Text.IsBlank(Encoding.UTF8.GetBytes(text)), Is.EqualTo(string.IsNullOrWhiteSpace(text)), Escape(text));
        }
    }

    [Test]
    public void A_decoded_chat_is_the_chat_made_from_its_string()
    {
        foreach (var text in RandomTexts(5_000, seed: 11).Append("plain").Append(string.Empty))
        {
            var line = MessageEncoder.Encode(new ChatMessage(text) { Room = "dev" });
            Assert.That(MessageDecoder.TryDecodeClientMessage(line.AsSpan(0, line.Length - 1), out var decoded, out var error), Is.True, error);
            var chat = (ChatMessage)decoded!;

            // Equality and the hash before Text was ever read, then the text both ways.
            var expected = new ChatMessage(text) { Room = "dev" };
            Assert.That(chat, Is.EqualTo(expected), Escape(text));
            Assert.That(chat.GetHashCode(), Is.EqualTo(expected.GetHashCode()));
            Assert.That(chat.Utf8Text, Is.EqualTo(Encoding.UTF8.GetBytes(text)));
            Assert.That(chat.Text, Is.EqualTo(text));
        }
    }

    [Test]
    public void Escapes_in_a_chat_line_are_undone_in_its_bytes()
    {
        var line = """{"type":"chat","text":"a\"b\\c\/d\n\u00e9\ud83c\udf89\u0000"}"""u8;

        Assert.That(MessageDecoder.TryDecodeClientMessage(line, out var decoded, out var error), Is.True, error);
        var chat = (ChatMessage)decoded!;
        Assert.That(Encoding.UTF8.GetString(chat.Utf8Text), Is.EqualTo("a\"b\\c/d\né🎉\0"));
        Assert.That(chat.Text, Is.EqualTo("a\"b\\c/d\né🎉\0"));
    }

    [Test]
    public void Changing_the_text_of_a_decoded_chat_changes_both_forms()
    {
        var line = """{"type":"chat","text":"before","room":"dev"}"""u8;
        Assert.That(MessageDecoder.TryDecodeClientMessage(line, out var decoded, out _), Is.True);

        var changed = (ChatMessage)decoded! with { Text = "after" };

        Assert.That(changed.Text, Is.EqualTo("after"));
        Assert.That(changed.Utf8Text, Is.EqualTo("after"u8.ToArray()));
        Assert.That(changed, Is.EqualTo(new ChatMessage("after") { Room = "dev" }));
        Assert.That(((ChatMessage)decoded!).Text, Is.EqualTo("before"), "the original is untouched");
    }

    [Test]
    public void Every_frame_of_a_chat_logged_from_bytes_is_what_the_serializer_writes_for_its_string()
    {
        var log = new RoomLog("dev");
        var time = new DateTimeOffset(2026, 12, 7, 17, 30, 0, 456, TimeSpan.Zero);
        foreach (var text in RandomTexts(5_000, seed: 13))
        {
            var position = log.AppendChat(99, time, "ålice", Encoding.UTF8.GetBytes(text));
            foreach (var form in Enum.GetValues<WireForm>())
            {
                var message = new ChatBroadcastMessage("ålice", text)
                {
                    Room = form >= WireForm.Rooms ? "dev" : null,
                    Id = form is WireForm.Meta or >= WireForm.RoomsMeta ? 99 : null,
                    Time = form is WireForm.Meta or >= WireForm.RoomsMeta ? time : null,
                    History = form == WireForm.History ? true : null,
                };
                Assert.That(log.Frame(position, form), Is.EqualTo(MessageEncoder.EncodeWithSerializer(message)), $"{form}: {Escape(text)}");
            }
        }
    }

    // Valid text of every kind the encoder treats differently: ASCII, the characters JSON and the
    // encoder escape, two- three- and four-byte UTF-8, and the whitespace above.
    private static IEnumerable<string> RandomTexts(int count, int seed)
    {
        var random = new Random(seed);
        const string Special = "\"\\/<>&'+`\u2028\u2029\uFEFF\u0085\u00A0\u007F\u0000\t\n\r ";
        for (var i = 0; i < count; i++)
        {
            var text = new StringBuilder();
            for (var length = random.Next(0, 16); length > 0; length--)
            {
                var codePoint = random.Next(6) switch
                {
                    0 => random.Next(0x20, 0x7F),
                    1 => random.Next(0, 0x20),
                    2 => random.Next(0x80, 0x800),
                    3 => random.Next(2) == 0 ? random.Next(0x800, 0xD800) : random.Next(0xE000, 0x10000),
                    4 => random.Next(0x10000, 0x110000),
                    _ => Special[random.Next(Special.Length)],
                };
                text.Append(char.ConvertFromUtf32(codePoint));
            }

            yield return text.ToString();
        }
    }

    private static string Escape(string text) => string.Concat(text.Select(c => c is >= ' ' and < '\u007F' ? c.ToString() : $"\\u{(int)c:x4}"));
}
