using System.Text;
using LocalChatMesh.Hub.Rooms;
using LocalChatMesh.Protocol;

namespace LocalChatMesh.Tests.Hub;

/// <summary>
/// The room log keeps chats as slots in a ring and their texts in shared blocks. Against a plain
/// list that does the same thing the obvious way, over random appends, drops and presence
/// clean-ups: the ring wraps and grows, texts land in small, doubling and oversized blocks, and
/// every question the hub asks of the log gets the list's answer.
/// </summary>
public class RoomLogTests
{
    private static readonly DateTimeOffset Start = new(2026, 12, 7, 18, 0, 0, TimeSpan.Zero);

    [TestCase(1)]
    [TestCase(2)]
    [TestCase(3)]
    public void Answers_as_a_plain_list_would(int seed)
    {
        var random = new Random(seed);
        var log = new RoomLog("dev");
        var model = new List<Entry>();
        long first = 0, lastId = 0, lastDroppedId = 0, nextId = 0;
        var appended = new List<long>();

        for (var step = 0; step < 6_000; step++)
        {
            var roll = random.Next(100);
            if (roll < 50)
            {
                // Ids increase, with gaps (a cluster's or another room's ids in between).
                nextId += random.Next(1, 4);
                var text = Text(random);
                var time = Start.AddMilliseconds(step);
                var position = log.AppendChat(nextId, time, "n" + (step % 7), Encoding.UTF8.GetBytes(text));
                Assert.That(position, Is.EqualTo(first + model.Count));
                model.Add(new Entry(nextId, "n" + (step % 7), text, time, null));
                lastId = nextId;
                appended.Add(nextId);
            }
            else if (roll < 62)
            {
                var presence = new PresenceEntry("dev", "p" + step, joined: step % 2 == 0);
                Assert.That(log.AppendPresence(presence), Is.EqualTo(first + model.Count));
                model.Add(new Entry(0, "p" + step, null, default, presence));
            }
            else if (roll < 98 && model.Count > 0)
            {
                var (chat, bytes) = log.DropFront();
                Assert.That(chat, Is.EqualTo(model[0].Presence is null));
                Assert.That(bytes, Is.GreaterThan(0));
                if (chat)
                {
                    lastDroppedId = model[0].Id;
                }

                model.RemoveAt(0);
                first++;
            }
            else
            {
                log.ForgetPresence();
                model.RemoveAll(entry => entry.Presence is not null);
            }

            Assert.That((log.FirstPosition, log.Count, log.ChatCount, log.LastId, log.LastDroppedId), Is.EqualTo((first, model.Count, model.Count(e => e.Presence is null), lastId, lastDroppedId)), $"step {step}");
            Assert.That(log.FrontIsPresence, Is.EqualTo(model.Count > 0 && model[0].Presence is not null));
            if (step % 250 == 0 || model.Count == 0)
            {
                AssertSameEntries(log, model, first, appended, random);
            }
        }

        AssertSameEntries(log, model, first, appended, random);

        // What the drops report adds up to what the log counted, and an empty log counts nothing.
        var counted = log.Bytes;
        long reported = 0;
        while (log.Count > 0)
        {
            reported += log.DropFront().Bytes;
        }

        Assert.That((reported, log.Bytes), Is.EqualTo((counted, 0L)));
    }

    [Test]
    public void Forgetting_presence_keeps_the_chats_in_order_at_the_first_positions()
    {
        var log = new RoomLog("dev");
        for (var i = 1; i <= 10; i++)
        {
            log.AppendPresence(new PresenceEntry("dev", "p" + i, joined: true));
            log.AppendChat(i, Start, "alice", Encoding.UTF8.GetBytes("chat " + i));
        }

        log.DropFront();
        var freed = log.ForgetPresence();

        Assert.That(freed, Is.GreaterThan(0));
        Assert.That((log.FirstPosition, log.Count, log.PresenceCount), Is.EqualTo((1L, 10, 0)));
        Assert.That(Enumerable.Range(1, 10).Select(i => log.ChatIdAt(i)), Is.EqualTo(Enumerable.Range(1, 10).Select(i => (long)i)));
        Assert.That(Encoding.UTF8.GetString(log.Frame(10, WireForm.V1)), Is.EqualTo("{\"type\":\"chat\",\"nickname\":\"alice\",\"text\":\"chat 10\"}\n"));
    }

    [Test]
    public void A_position_not_held_is_refused()
    {
        var log = new RoomLog("dev");
        log.AppendChat(1, Start, "alice", "a"u8);
        log.AppendChat(2, Start, "alice", "b"u8);
        log.DropFront();

        Assert.Throws<ArgumentOutOfRangeException>(() => log.Frame(0, WireForm.V1));
        Assert.Throws<ArgumentOutOfRangeException>(() => log.ChatIdAt(2));
        Assert.That(log.ChatIdAt(1), Is.EqualTo(2));
    }

    [Test]
    public void The_replay_frame_is_made_once_and_shared()
    {
        var log = new RoomLog("dev");
        var position = log.AppendChat(7, Start, "alice", "hi"u8);

        var replay = log.Frame(position, WireForm.History);
        Assert.That(log.Frame(position, WireForm.History), Is.SameAs(replay));
        Assert.That(Encoding.UTF8.GetString(log.Frame(position, WireForm.History)), Is.EqualTo(
            "{\"type\":\"chat\",\"nickname\":\"alice\",\"text\":\"hi\",\"room\":\"dev\",\"id\":7,\"time\":\"2026-12-07T18:00:00.000Z\",\"history\":true}\n"));
    }

    private static void AssertSameEntries(RoomLog log, List<Entry> model, long first, List<long> appended, Random random)
    {
        for (var i = 0; i < model.Count; i++)
        {
            var position = first + i;
            var entry = model[i];
            Assert.That(log.ChatIdAt(position), Is.EqualTo(entry.Id), $"position {position}");
            var expected = entry.Presence is { } presence
                ? presence.Message(WireForm.RoomsMeta)
                : new ChatBroadcastMessage(entry.Nickname, entry.Text!) { Room = "dev", Id = entry.Id, Time = entry.Time };
            Assert.That(log.Frame(position, WireForm.RoomsMeta), Is.EqualTo(MessageEncoder.Encode(expected)), $"position {position}");
        }

        var held = model.Where(e => e.Presence is null).Select(e => e.Id).ToHashSet();
        foreach (var id in appended)
        {
            Assert.That(log.Holds(id), Is.EqualTo(held.Contains(id)), $"id {id}");
        }

        // Where replays start: the last N chats, and the first chat after an id.
        for (var k = 0; k < 5; k++)
        {
            var count = random.Next(0, model.Count + 3);
            var expected = first + model.Count;
            for (int i = model.Count - 1, left = count; i >= 0 && left > 0; i--)
            {
                expected = first + i;
                left -= model[i].Presence is null ? 1 : 0;
            }

            Assert.That(log.PositionOfLastChats(count), Is.EqualTo(expected), $"last {count}");

            var after = appended.Count == 0 ? 0 : appended[random.Next(appended.Count)] - random.Next(0, 2);
            var firstAfter = first + model.Count;
            for (var i = model.Count - 1; i >= 0 && !(model[i].Presence is null && model[i].Id <= after); i--)
            {
                firstAfter = first + i;
            }

            Assert.That(log.PositionAfterId(after), Is.EqualTo(firstAfter), $"after {after}");
        }
    }

    // Mostly short texts; now and then one longer than the largest block, and non-ASCII.
    private static string Text(Random random) => random.Next(50) switch
    {
        0 => new string('L', random.Next(16 * 1024, 20 * 1024)),
        1 => "",
        2 => "日本語 🎉 \"q\" \\ \n",
        _ => new string((char)('a' + random.Next(26)), random.Next(1, 300)),
    };

    private sealed record Entry(long Id, string Nickname, string? Text, DateTimeOffset Time, PresenceEntry? Presence);
}
