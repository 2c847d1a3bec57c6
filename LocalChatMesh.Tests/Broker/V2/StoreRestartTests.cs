using LocalChatMesh.Protocol;
using LocalChatMesh.Storage;
using LocalChatMesh.Storage.Sqlite;
using LocalChatMesh.Tests.Storage;
using LocalChatMesh.Tests.Support;

namespace LocalChatMesh.Tests.Broker.V2;

/// <summary>A real broker on a real SQLite file: history, epoch and ids survive a restart.</summary>
public class StoreRestartTests
{
    private const string Hello = """{"type":"hello","nickname":"alice","capabilities":["rooms","direct","history","meta"]}""";

    [Test]
    public async Task After_a_restart_on_the_same_store_a_client_resumes_with_nothing_lost()
    {
        using var directory = new StoreDirectory();
        var file = directory.File();
        string epoch;
        List<ChatBroadcastMessage> said = [];
        await using (var broker = await TestBroker.StartAsync(options => options with { Store = new SqliteChatStore(file) }))
        {
            await using var alice = await RawClient.ConnectAsync(broker.LocalEndPoint);
            await alice.SendLineAsync(Hello);
            await alice.ExpectAsync<WelcomeMessage>();
            await alice.SendLineAsync("""{"type":"join","room":"dev"}""");
            epoch = (await alice.ExpectAsync<JoinedMessage>()).Epoch!;
            for (var i = 1; i <= 3; i++)
            {
                await alice.SendLineAsync($$"""{"type":"chat","room":"dev","text":"m{{i}}"}""");
                said.Add(await alice.ExpectAsync<ChatBroadcastMessage>());
            }
        }

        await using (var broker = await TestBroker.StartAsync(options => options with { Store = new SqliteChatStore(file) }))
        {
            await using var alice = await RawClient.ConnectAsync(broker.LocalEndPoint);
            await alice.SendLineAsync(Hello);
            await alice.ExpectAsync<WelcomeMessage>();
            await alice.SendLineAsync($$"""{"type":"join","room":"DEV","after":{{said[0].Id}},"epoch":"{{epoch}}"}""");

            var joined = await alice.ExpectAsync<JoinedMessage>();
            Assert.That(joined.Recovered, Is.True);
            Assert.That(joined.Epoch, Is.EqualTo(epoch));
            Assert.That(joined.LastId, Is.EqualTo(said[2].Id));
            Assert.That((await alice.ExpectAsync<ChatBroadcastMessage>()) with { History = null }, Is.EqualTo(said[1]));
            Assert.That((await alice.ExpectAsync<ChatBroadcastMessage>()) with { History = null }, Is.EqualTo(said[2]));
            await alice.SendLineAsync("""{"type":"chat","room":"dev","text":"m4"}""");
            var fourth = await alice.ExpectAsync<ChatBroadcastMessage>();
            Assert.That(fourth.Id, Is.GreaterThan(said[2].Id!.Value));
            Assert.That(broker.Rooms, Is.EqualTo(new[] { new RoomSummary("dev", 1) }));
        }
    }

    [Test]
    public async Task Without_a_store_the_epoch_changes_with_every_start()
    {
        var epochs = new List<string>();
        for (var i = 0; i < 2; i++)
        {
            await using var broker = await TestBroker.StartAsync();
            await using var alice = await RawClient.ConnectAsync(broker.LocalEndPoint);
            await alice.SendLineAsync(Hello);
            await alice.ExpectAsync<WelcomeMessage>();
            await alice.SendLineAsync("""{"type":"join","room":"dev","after":5,"epoch":"whatever"}""");
            var joined = await alice.ExpectAsync<JoinedMessage>();
            Assert.That(joined.Recovered, Is.False);
            epochs.Add(joined.Epoch!);
        }

        Assert.That(epochs[0], Is.Not.EqualTo(epochs[1]));
    }

    [Test]
    public async Task A_store_that_cannot_be_opened_stops_the_start_with_its_one_line_reason()
    {
        using var directory = new StoreDirectory();
        var file = directory.File();
        await File.WriteAllBytesAsync(file, new byte[8192]);

        var refused = Assert.CatchAsync<ChatStoreException>(async () => await TestBroker.StartAsync(options => options with { Store = new SqliteChatStore(file) }));

        Assert.That(refused!.Message, Does.Contain(file).And.Not.Contain("\n"));
    }
}
