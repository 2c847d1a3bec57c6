using LocalChatMesh.Protocol;
using LocalChatMesh.Storage;
using LocalChatMesh.Tests.Support;

namespace LocalChatMesh.Tests.Hub.V2;

/// <summary>The hub with a store: committed before delivered, group commit, restore, slow and failing stores.</summary>
public class StoreTests
{
    [Test]
    public void A_chat_reaches_nobody_until_the_store_has_committed_it()
    {
        var store = new GatedStore();
        using var hub = new HubHarness(options => options with { Store = store });
        var alice = hub.JoinV2("alice");
        alice.JoinRoom("dev");
        alice.TakeReceived();

        alice.Chat("dev", "first");
        alice.Chat("dev", "second");
        alice.Chat("dev", "third");

        Assert.That(alice.Received, Is.Empty, "nothing before the commit");
        store.CompleteNext();
        Assert.That(alice.Received.OfType<ChatBroadcastMessage>().Select(c => c.Text), Is.EqualTo(new[] { "first" }));
        store.CompleteNext();
        Assert.That(alice.Received.OfType<ChatBroadcastMessage>().Select(c => c.Text), Is.EqualTo(new[] { "first", "second", "third" }));
        Assert.That(store.Batches.Select(batch => batch.Count), Is.EqualTo(new[] { 1, 2 }), "chats accepted during a commit go in the next batch together");
        Assert.That(store.Batches.SelectMany(batch => batch).Select(chat => chat.Room), Has.All.EqualTo("dev"));
    }

    [Test]
    public void A_batch_the_store_refuses_reaches_nobody_and_its_senders_are_told()
    {
        var store = new GatedStore();
        using var hub = new HubHarness(options => options with { Store = store });
        var alice = hub.JoinV2("alice");
        var bob = hub.JoinV2("bob");
        alice.JoinRoom("dev");
        bob.JoinRoom("dev");
        alice.TakeReceived();
        bob.TakeReceived();

        alice.Chat("dev", "lost");
        store.FailNext(new ChatStoreException("cannot write store 'x': the disk is full"));

        Assert.That(alice.Received, Is.EqualTo(new ServerMessage[]
        {
            new ErrorMessage("message not delivered: the broker could not store it (cannot write store 'x': the disk is full)"),
        }));
        Assert.That(bob.Received, Is.Empty);
        Assert.That(alice.IsOpen(), Is.True);

        alice.Chat("dev", "after the disk has room again");
        store.CompleteNext();
        Assert.That(bob.Received.OfType<ChatBroadcastMessage>().Single().Text, Is.EqualTo("after the disk has room again"));
    }

    [Test]
    public void A_store_that_falls_behind_holds_the_senders_back_until_it_catches_up()
    {
        var store = new GatedStore();
        using var hub = new HubHarness(options => options with { Store = store });
        var pressure = new List<bool>();
        hub.Broker.Hub.StorePressure += pressure.Add;
        var alice = hub.JoinV2("alice");
        alice.JoinRoom("dev");

        for (var i = 0; i <= LocalChatMesh.Hub.ChatHub.MaxPendingChats + 1; i++)
        {
            alice.Chat("dev", $"m{i}");
        }

        Assert.That(pressure, Is.EqualTo(new[] { true }));
        store.CompleteNext();
        store.CompleteNext();
        Assert.That(pressure, Is.EqualTo(new[] { true, false }));
        Assert.That(alice.Received.OfType<ChatBroadcastMessage>().Count(), Is.EqualTo(LocalChatMesh.Hub.ChatHub.MaxPendingChats + 2));
    }

    [Test]
    public void Restored_history_keeps_its_epoch_and_ids_go_on_from_the_last_one()
    {
        // The store ages history on its own clock; the hub's virtual one starts in year 1.
        var store = new InMemoryChatStore(new Microsoft.Extensions.Time.Testing.FakeTimeProvider(new DateTimeOffset(5, 1, 1, 0, 0, 0, TimeSpan.Zero)));
        using (var first = new HubHarness(options => options with { Store = store, HistoryMaxAge = TimeSpan.FromDays(3650) }))
        {
            var alice = first.JoinV2("alice");
            alice.JoinRoom("Dev");
            alice.Chat("Dev", "before the restart");
        }

        var reopened = new ReopenedStore(store);
        using var hub = new HubHarness(options => options with { Store = reopened, HistoryMaxAge = TimeSpan.FromDays(3650) });
        var bob = hub.JoinV2("bob");
        bob.JoinRoom("dev", after: 0, epoch: store.Epoch);
        bob.Chat("dev", "after the restart");

        var joined = bob.Received.OfType<JoinedMessage>().Single();
        Assert.That(joined.Room, Is.EqualTo("Dev"));
        Assert.That(joined.Recovered, Is.True);
        Assert.That(joined.Epoch, Is.EqualTo(store.Epoch));
        var chats = bob.Received.OfType<ChatBroadcastMessage>().ToList();
        Assert.That(chats.Select(c => (c.Text, c.History)), Is.EqualTo(new (string, bool?)[] { ("before the restart", true), ("after the restart", null) }));
        Assert.That(chats[1].Id, Is.GreaterThan(chats[0].Id!.Value));
    }

    /// <summary>A store whose appends wait until the test lets them finish, in order.</summary>
    private sealed class GatedStore : IChatStore
    {
        private readonly Queue<(IReadOnlyList<StoredChat> Batch, TaskCompletionSource Done)> _waiting = new();

        public List<IReadOnlyList<StoredChat>> Batches { get; } = [];

        public Task<ChatStoreSnapshot> OpenAsync(ChatStoreRetention retention, CancellationToken cancellationToken = default) =>
            Task.FromResult(new ChatStoreSnapshot("gated", 0, []));

        public Task AppendAsync(IReadOnlyList<StoredChat> batch, CancellationToken cancellationToken = default)
        {
            var done = new TaskCompletionSource();
            _waiting.Enqueue((batch, done));
            return done.Task;
        }

        public void CompleteNext()
        {
            var (batch, done) = _waiting.Dequeue();
            Batches.Add(batch);
            done.SetResult();
        }

        public void FailNext(Exception error) => _waiting.Dequeue().Done.SetException(error);

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    /// <summary>What the same store file looks like to the next broker: its messages, epoch and last id.</summary>
    private sealed class ReopenedStore(InMemoryChatStore previous) : IChatStore
    {
        public Task<ChatStoreSnapshot> OpenAsync(ChatStoreRetention retention, CancellationToken cancellationToken = default)
        {
            var messages = previous.GetMessages();
            return Task.FromResult(new ChatStoreSnapshot(previous.Epoch, messages.Max(m => m.Id), messages));
        }

        public Task AppendAsync(IReadOnlyList<StoredChat> batch, CancellationToken cancellationToken = default) => Task.CompletedTask;

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
