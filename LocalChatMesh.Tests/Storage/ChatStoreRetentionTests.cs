using LocalChatMesh.Storage;

namespace LocalChatMesh.Tests.Storage;

public class ChatStoreRetentionTests
{
    [Test]
    public void Default_keeps_1000_messages_per_room_for_7_days()
    {
        Assert.That(ChatStoreRetention.Default, Is.EqualTo(new ChatStoreRetention(1000, TimeSpan.FromDays(7))));
    }

    [TestCase(0)]
    [TestCase(-1)]
    public void Refuses_a_count_below_one(int count)
    {
        Assert.That(() => new ChatStoreRetention(count, TimeSpan.FromDays(1)),
            Throws.TypeOf<ArgumentOutOfRangeException>().With.Message.Contains("MaxMessagesPerRoom must be at least 1"));
        Assert.That(() => ChatStoreRetention.Default with { MaxMessagesPerRoom = count },
            Throws.TypeOf<ArgumentOutOfRangeException>());
    }

    [Test]
    public void Refuses_an_age_that_is_neither_positive_nor_infinite()
    {
        Assert.That(() => new ChatStoreRetention(10, TimeSpan.Zero),
            Throws.TypeOf<ArgumentOutOfRangeException>().With.Message.Contains("MaxAge must be positive"));
        Assert.That(() => ChatStoreRetention.Default with { MaxAge = TimeSpan.FromSeconds(-5) },
            Throws.TypeOf<ArgumentOutOfRangeException>());
        Assert.That(new ChatStoreRetention(10, Timeout.InfiniteTimeSpan).MaxAge, Is.EqualTo(Timeout.InfiniteTimeSpan));
    }

    [Test]
    public void Stored_chat_refuses_a_non_positive_id_and_null_text()
    {
        Assert.That(() => new StoredChat(0, "lobby", StoreDirectory.Start, "alice", "hi"), Throws.TypeOf<ArgumentOutOfRangeException>());
        Assert.That(() => new StoredChat(1, null!, StoreDirectory.Start, "alice", "hi"), Throws.TypeOf<ArgumentNullException>());
        Assert.That(() => StoreDirectory.Chat(1) with { Text = null! }, Throws.TypeOf<ArgumentNullException>());
    }
}
