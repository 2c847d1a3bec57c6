using System.Text;
using LocalChatMesh.Protocol;

namespace LocalChatMesh.Tests.Protocol;

public class V2CodecTests
{
    [Test]
    public void Optional_version_2_fields_are_absent_when_null_so_version_1_bytes_do_not_change()
    {
        Assert.That(Text(MessageEncoder.Encode(new WelcomeMessage("alice"))), Is.EqualTo("""{"type":"welcome","nickname":"alice"}"""));
        Assert.That(Text(MessageEncoder.Encode(new ChatBroadcastMessage("a", "b"))), Is.EqualTo("""{"type":"chat","nickname":"a","text":"b"}"""));
        Assert.That(Text(MessageEncoder.Encode(new HelloMessage("alice"))), Is.EqualTo("""{"type":"hello","nickname":"alice"}"""));
    }

    [Test]
    public void Time_is_RFC_3339_UTC_with_milliseconds_whatever_the_offset()
    {
        var time = new DateTimeOffset(2026, 12, 1, 8, 20, 57, 123, TimeSpan.FromHours(1)).AddTicks(4567);

        var line = Text(MessageEncoder.Encode(new ChatBroadcastMessage("a", "b") { Id = 1, Time = time }));

        Assert.That(line, Is.EqualTo("""{"type":"chat","nickname":"a","text":"b","id":1,"time":"2026-12-01T07:20:57.123Z"}"""));
    }

    [TestCase("""{"type":"joined","room":"dev","participants":["bob"],"epoch":"e","last_id":5,"recovered":true}""")]
    [TestCase("""{"type":"room_list","rooms":[{"room":"dev","members":2}]}""")]
    [TestCase("""{"type":"direct","from":"alice","to":"bob","text":"hi","id":3,"time":"2026-12-01T07:20:57.123Z"}""")]
    [TestCase("""{"type":"welcome","nickname":"alice","capabilities":["rooms"],"session":"x","max_line_length":8192}""")]
    public void Version_2_server_lines_encode_exactly_as_documented(string line)
    {
        Assert.That(MessageDecoder.TryDecodeServerMessage(Encoding.UTF8.GetBytes(line), out var message, out var error), Is.True, error);
        Assert.That(Text(MessageEncoder.Encode(message!)), Is.EqualTo(line));
    }

    [TestCase("""{"type":"hello","nickname":"a","capabilities":"rooms"}""", "field 'capabilities' must be an array of strings")]
    [TestCase("""{"type":"hello","nickname":"a","capabilities":["rooms",1]}""", "field 'capabilities' must be an array of strings")]
    [TestCase("""{"type":"hello","nickname":"a","capabilities":{}}""", "field 'capabilities' must be an array of strings")]
    [TestCase("""{"type":"hello","nickname":"a","session":5}""", "field 'session' must be a string")]
    [TestCase("""{"type":"join"}""", "missing field 'room'")]
    [TestCase("""{"type":"join","room":["dev"]}""", "field 'room' must be a string")]
    [TestCase("""{"type":"join","room":"dev","history":"10"}""", "field 'history' must be a non-negative integer")]
    [TestCase("""{"type":"join","room":"dev","history":-1}""", "field 'history' must be a non-negative integer")]
    [TestCase("""{"type":"join","room":"dev","history":1.5}""", "field 'history' must be a non-negative integer")]
    [TestCase("""{"type":"join","room":"dev","after":"5"}""", "field 'after' must be a non-negative integer")]
    [TestCase("""{"type":"join","room":"dev","after":5,"epoch":5}""", "field 'epoch' must be a string")]
    [TestCase("""{"type":"leave","room":null}""", "field 'room' must be a string")]
    [TestCase("""{"type":"who"}""", "missing field 'room'")]
    [TestCase("""{"type":"direct","text":"hi"}""", "missing field 'to'")]
    [TestCase("""{"type":"direct","to":7,"text":"hi"}""", "field 'to' must be a string")]
    [TestCase("""{"type":"direct","to":"bob"}""", "missing field 'text'")]
    [TestCase("""{"type":"chat","text":"hi","room":5}""", "field 'room' must be a string")]
    [TestCase("""{"type":"join","room":"a","room":"b"}""", "duplicate field 'room'")]
    public void Malformed_version_2_client_lines_name_the_problem(string line, string expected)
    {
        Assert.That(MessageDecoder.TryDecodeClientMessage(Encoding.UTF8.GetBytes(line), out _, out var error), Is.False);
        Assert.That(error, Is.EqualTo(expected));
    }

    [Test]
    public void A_null_optional_field_reads_as_absent()
    {
        Assert.That(MessageDecoder.TryDecodeClientMessage("""{"type":"join","room":"dev","history":null,"after":null,"epoch":null}"""u8, out var message, out _), Is.True);
        Assert.That(message, Is.EqualTo(new JoinMessage("dev")));
    }

    [Test]
    public void A_huge_history_count_is_capped_not_refused()
    {
        Assert.That(MessageDecoder.TryDecodeClientMessage("""{"type":"join","room":"dev","history":99999999999999}"""u8, out var message, out _), Is.True);
        Assert.That(((JoinMessage)message!).History, Is.EqualTo(int.MaxValue));
    }

    [Test]
    public void A_broker_reads_a_chat_with_a_mistyped_room_leniently_and_keeps_the_problem()
    {
        var message = MessageDecoder.DecodeClientMessage("""{"type":"chat","text":"hi","room":[1]}"""u8);

        Assert.That(message, Is.EqualTo(new MistypedField("field 'room' must be a string", new ChatMessage("hi"))));
    }

    [Test]
    public void A_broker_learns_the_type_of_a_well_formed_line_with_wrong_fields()
    {
        Assert.That(MessageDecoder.DecodeClientMessage("""{"type":"join","room":5}"""u8), Is.EqualTo(new UnreadableLine("field 'room' must be a string") { Type = "join" }));
        Assert.That(MessageDecoder.DecodeClientMessage("""{"type":"join","room":"""u8), Is.TypeOf<UnreadableLine>().And.Property("Type").Null);
    }

    [Test]
    public void Message_records_compare_their_lists_by_content()
    {
        Assert.That(new HelloMessage("a") { Capabilities = ["rooms"] }, Is.EqualTo(new HelloMessage("a") { Capabilities = new List<string> { "rooms" } }));
        Assert.That(new JoinedMessage("dev", ["a"]), Is.Not.EqualTo(new JoinedMessage("dev", ["b"])));
        var rooms = new RoomListMessage([new RoomSummary("a", 1)]);
        Assert.That(rooms, Is.EqualTo(new RoomListMessage(new List<RoomSummary> { new("a", 1) })));
    }

    private static string Text(byte[] frame) => Encoding.UTF8.GetString(frame, 0, frame.Length - 1);
}
