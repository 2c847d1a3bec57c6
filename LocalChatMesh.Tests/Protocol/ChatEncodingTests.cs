using System.Text;
using LocalChatMesh.Protocol;

namespace LocalChatMesh.Tests.Protocol;

/// <summary>The hand-written encoding of chat broadcasts (the broker's hot path) against the serializer's.</summary>
public class ChatEncodingTests
{
    private static readonly string[] Texts =
    [
        "hello world",
        "",
        "quote \" backslash \\ slash / tab \t newline \n nul \0 del \u007f",
        "non-ASCII: café, 日本語, emoji 🎉, lone surrogate \ud800, BOM \ufeff, line sep \u2028",
        "<script>&amp;'</script>",
        new string('x', 5000),
    ];

    private static IEnumerable<ChatBroadcastMessage> Variants()
    {
        var times = new DateTimeOffset?[]
        {
            null,
            new DateTimeOffset(2026, 12, 1, 7, 20, 57, 123, TimeSpan.Zero),
            new DateTimeOffset(2026, 12, 1, 9, 20, 57, TimeSpan.FromHours(2)).AddTicks(12345),
            DateTimeOffset.MinValue,
        };
        foreach (var text in Texts)
        {
            foreach (var room in new[] { null, "lobby", "Rust-Dev.2" })
            {
                foreach (var id in new long?[] { null, 0, 1, long.MaxValue })
                {
                    foreach (var time in times)
                    {
                        foreach (var history in new bool?[] { null, true, false })
                        {
                            yield return new ChatBroadcastMessage("ålice \"a\"", text) { Room = room, Id = id, Time = time, History = history };
                        }
                    }
                }
            }
        }
    }

    [Test]
    public void A_chat_is_encoded_byte_for_byte_as_the_serializer_does()
    {
        var count = 0;
        foreach (var chat in Variants())
        {
            var fast = MessageEncoder.Encode(chat);
            var serialized = MessageEncoder.EncodeWithSerializer(chat);
            Assert.That(Encoding.UTF8.GetString(fast), Is.EqualTo(Encoding.UTF8.GetString(serialized)), $"for {chat}");
            Assert.That(fast, Is.EqualTo(serialized));
            count++;
        }

        Assert.That(count, Is.EqualTo(Texts.Length * 3 * 4 * 4 * 3));
    }

    [Test]
    public void A_chat_with_every_field_reads_back_the_same()
    {
        var chat = new ChatBroadcastMessage("bob", "hi") { Room = "lobby", Id = 42, Time = new DateTimeOffset(2026, 12, 1, 7, 20, 57, 123, TimeSpan.Zero), History = true };
        var line = MessageEncoder.Encode(chat);
        Assert.That(Encoding.UTF8.GetString(line), Is.EqualTo("""{"type":"chat","nickname":"bob","text":"hi","room":"lobby","id":42,"time":"2026-12-01T07:20:57.123Z","history":true}""" + "\n"));
        Assert.That(MessageDecoder.TryDecodeServerMessage(line.AsSpan(0, line.Length - 1), out var decoded, out var error), Is.True, error);
        Assert.That(decoded, Is.EqualTo(chat));
    }

    [Test]
    public void The_wire_time_is_written_as_the_format_string_writes_it()
    {
        // The hand-written formatter against the custom format it replaced, over the whole range:
        // the edges, offsets either side of UTC, and 100,000 random instants with their ticks.
        var random = new Random(20261201);
        var times = new List<DateTimeOffset>
        {
            DateTimeOffset.MinValue,
            DateTimeOffset.MaxValue,
            new(2026, 12, 31, 23, 59, 59, 999, TimeSpan.Zero),
            new(2027, 1, 1, 0, 30, 0, 5, TimeSpan.FromHours(1)),
            new(2026, 12, 31, 23, 30, 0, 50, TimeSpan.FromHours(-14)),
            new(2024, 2, 29, 12, 0, 0, TimeSpan.FromMinutes(330)),
        };
        for (var i = 0; i < 100_000; i++)
        {
            var offset = TimeSpan.FromMinutes(random.Next(-14 * 60, 14 * 60 + 1));
            var ticks = random.NextInt64(DateTime.MinValue.Ticks + TimeSpan.TicksPerDay, DateTime.MaxValue.Ticks - TimeSpan.TicksPerDay);
            times.Add(new DateTimeOffset(ticks, offset));
        }

        Span<byte> text = stackalloc byte[24];
        foreach (var time in times)
        {
            WireTimeConverter.FormatUtf8(time, text);
            var expected = time.UtcDateTime.ToString(WireTimeConverter.Format, System.Globalization.CultureInfo.InvariantCulture);
            if (Encoding.ASCII.GetString(text) != expected)
            {
                Assert.Fail($"{time:O}: {Encoding.ASCII.GetString(text)} instead of {expected}");
            }
        }

        Assert.That(times, Has.Count.EqualTo(100_006));
    }
}

/// <summary>A room log's chat encodes each wire variant straight from its slot: the same bytes as the message it stands for.</summary>
public class LoggedChatEncodingTests
{
    [Test]
    public void Every_wire_form_of_a_logged_chat_is_what_the_serializer_writes()
    {
        var log = new LocalChatMesh.Hub.Rooms.RoomLog("Rust-Dev");
        var time = new DateTimeOffset(2026, 12, 1, 9, 20, 57, TimeSpan.FromHours(2)).AddTicks(98765);
        foreach (var text in new[] { "hi", "quote \" and \\ and \u0001 and 日本 🎉" })
        {
            var position = log.AppendChat(12345, time, "ålice", Encoding.UTF8.GetBytes(text));
            foreach (var form in Enum.GetValues<LocalChatMesh.Hub.Rooms.WireForm>())
            {
                var message = log.Message(position, form);
                Assert.That(((ChatBroadcastMessage)message).Text, Is.EqualTo(text));
                Assert.That(Encoding.UTF8.GetString(log.Frame(position, form)), Is.EqualTo(Encoding.UTF8.GetString(MessageEncoder.EncodeWithSerializer(message))), $"{form}");
            }
        }
    }
}

/// <summary>
/// The chat frame put together by hand (the broker's path for a chat that needs no escaping) is
/// byte for byte the serializer's, over every optional field; a part that needs escaping goes
/// to the JSON writer instead, with the same result.
/// </summary>
public class ChatFrameTests
{
    private static readonly DateTimeOffset?[] Times =
    [
        null,
        new DateTimeOffset(2026, 12, 1, 7, 20, 57, 123, TimeSpan.Zero),
        new DateTimeOffset(2026, 12, 1, 9, 20, 57, TimeSpan.FromHours(2)).AddTicks(12345),
        DateTimeOffset.MinValue,
        DateTimeOffset.MaxValue,
    ];

    [Test]
    public void Every_combination_of_fields_is_what_the_serializer_writes()
    {
        var built = 0;
        foreach (var nickname in new[] { "alice", "ålice", "日本", "a\"b", "back\\slash", new string('é', 70) })
        {
            foreach (var text in new[] { "", "hi", "café 日本", "🎉", "quote \"", "tab\t", "<&>'+`" })
            {
                foreach (var room in new[] { null, "lobby", "Rust-Dev.2_x" })
                {
                    foreach (var id in new long?[] { null, 0, 7, long.MaxValue, -3 })
                    {
                        foreach (var time in Times)
                        {
                            foreach (var history in new bool?[] { null, true, false })
                            {
                                var utf8 = Encoding.UTF8.GetBytes(text);
                                var expected = MessageEncoder.EncodeWithSerializer(new ChatBroadcastMessage(nickname, text) { Room = room, Id = id, Time = time, History = history });
                                var frame = MessageEncoder.EncodeChat(nickname, utf8, room, id, time, history);
                                Assert.That(Encoding.UTF8.GetString(frame), Is.EqualTo(Encoding.UTF8.GetString(expected)));
                                Assert.That(frame, Is.EqualTo(expected));
                                built += ChatFrame.TryBuild(nickname, utf8, room, id, time, history) is null ? 0 : 1;
                            }
                        }
                    }
                }
            }
        }

        // alice, ålice and 日本 with the four texts that need no escaping ("", hi, café 日本, <&>'+`), over every other field.
        Assert.That(built, Is.EqualTo(3 * 4 * 3 * 5 * 5 * 3), "how often the hand-built path was taken");
    }

    [TestCase("a\"b", "hi", TestName = "A quote in the nickname")]
    [TestCase("alice", "line\nbreak", TestName = "A control character in the text")]
    [TestCase("alice", "\u2028", TestName = "A line separator in the text")]
    [TestCase("alice", "\uFEFF", TestName = "A byte order mark in the text")]
    [TestCase("alice", "🎉", TestName = "A character outside the BMP")]
    public void A_part_that_needs_escaping_is_left_to_the_writer(string nickname, string text)
    {
        Assert.That(ChatFrame.TryBuild(nickname, Encoding.UTF8.GetBytes(text), "dev", 1, null, null), Is.Null);
    }
}
