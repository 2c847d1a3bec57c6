using LocalChatMesh.Storage;
using Microsoft.Extensions.Time.Testing;

namespace LocalChatMesh.Tests.Storage;

public class InMemoryChatStoreTests
{
    [Test]
    public async Task Opens_empty_with_a_random_epoch_per_instance()
    {
        await using var first = new InMemoryChatStore();
        await using var second = new InMemoryChatStore();
        var snapshot = await first.OpenAsync(ChatStoreRetention.Default);

        Assert.That(snapshot.LastId, Is.Zero);
        Assert.That(snapshot.Messages, Is.Empty);
        Assert.That(snapshot.Epoch, Is.EqualTo(first.Epoch).And.Match("^[0-9a-f]{32}$"));
        Assert.That(second.Epoch, Is.Not.EqualTo(first.Epoch));
    }

    [Test]
    public async Task Keeps_appended_messages_in_id_order_across_rooms()
    {
        await using var store = new InMemoryChatStore();
        await store.OpenAsync(ChatStoreRetention.Default);
        StoredChat[] batch = [StoreDirectory.Chat(1, "lobby"), StoreDirectory.Chat(4, "dev"), StoreDirectory.Chat(9, "lobby")];
        await store.AppendAsync(batch);
        await store.AppendAsync([StoreDirectory.Chat(10, "Dev")]);

        Assert.That(store.GetMessages(), Is.EqualTo(batch.Append(StoreDirectory.Chat(10, "Dev"))));
    }

    [Test]
    public async Task Keeps_at_most_the_newest_per_room_ignoring_case()
    {
        await using var store = new InMemoryChatStore();
        await store.OpenAsync(new ChatStoreRetention(3, Timeout.InfiniteTimeSpan));
        await store.AppendAsync([.. StoreDirectory.Chats(1, 5, "dev"), .. StoreDirectory.Chats(6, 2, "lobby")]);
        await store.AppendAsync([StoreDirectory.Chat(8, "DEV")]);

        Assert.That(store.GetMessages().Select(m => m.Id), Is.EqualTo(new long[] { 4, 5, 6, 7, 8 }));
    }

    [Test]
    public async Task Drops_messages_older_than_the_age_limit()
    {
        var time = new FakeTimeProvider(StoreDirectory.Start);
        await using var store = new InMemoryChatStore(time);
        await store.OpenAsync(new ChatStoreRetention(100, TimeSpan.FromMinutes(10)));
        await store.AppendAsync([StoreDirectory.Chat(1, "lobby", time.GetUtcNow()), StoreDirectory.Chat(2, "dev", time.GetUtcNow())]);
        time.Advance(TimeSpan.FromMinutes(6));
        await store.AppendAsync([StoreDirectory.Chat(3, "lobby", time.GetUtcNow())]);
        time.Advance(TimeSpan.FromMinutes(5));

        Assert.That(store.GetMessages().Select(m => m.Id), Is.EqualTo(new long[] { 3 }));
    }

    [Test]
    public async Task Refuses_ids_that_do_not_increase_and_keeps_nothing_of_that_batch()
    {
        await using var store = new InMemoryChatStore();
        await store.OpenAsync(ChatStoreRetention.Default);
        await store.AppendAsync([StoreDirectory.Chat(5)]);

        Assert.That(() => store.AppendAsync([StoreDirectory.Chat(6), StoreDirectory.Chat(6)]),
            Throws.ArgumentException.With.Message.Contains("Ids must increase"));
        Assert.That(() => store.AppendAsync([StoreDirectory.Chat(5)]), Throws.ArgumentException);
        Assert.That(store.GetMessages().Select(m => m.Id), Is.EqualTo(new long[] { 5 }));
    }

    [Test]
    public async Task Must_be_opened_once_before_appending()
    {
        await using var store = new InMemoryChatStore();
        Assert.That(() => store.AppendAsync([StoreDirectory.Chat(1)]), Throws.InvalidOperationException);
        await store.OpenAsync(ChatStoreRetention.Default);
        Assert.That(() => store.OpenAsync(ChatStoreRetention.Default), Throws.InvalidOperationException);
    }

    [Test]
    public async Task Can_be_read_while_another_thread_appends()
    {
        await using var store = new InMemoryChatStore();
        await store.OpenAsync(new ChatStoreRetention(500, Timeout.InfiniteTimeSpan));
        var writer = Task.Run(async () =>
        {
            for (long id = 1; id <= 3000; id++)
            {
                await store.AppendAsync([StoreDirectory.Chat(id, $"room{id % 3}")]);
            }
        });
        var readers = Enumerable.Range(0, 3).Select(_ => Task.Run(() =>
        {
            var reads = 0;
            while (!writer.IsCompleted || reads == 0)
            {
                var ids = store.GetMessages().Select(m => m.Id).ToList();
                Assert.That(ids, Is.Ordered.Ascending.And.Unique);
                reads++;
            }
        })).ToList();
        await Task.WhenAll([writer, .. readers]);

        Assert.That(store.GetMessages().Select(m => m.Id), Is.EqualTo(Enumerable.Range(1501, 1500).Select(i => (long)i)));
    }
}
