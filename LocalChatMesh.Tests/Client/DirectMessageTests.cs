using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using LocalChatMesh.Protocol;
using LocalChatMesh.Tests.Support;

namespace LocalChatMesh.Tests.Client;

public class DirectMessageTests
{
    private static readonly TimeSpan Deadline = FakeBroker.Deadline;

    [Test]
    public async Task A_direct_message_goes_out_and_deliveries_reach_both_faces()
    {
        using var broker = FakeBroker.Start();
        var (client, connection) = await broker.ConnectAsync([ChatCapabilities.Direct, ChatCapabilities.Meta]);
        await using (client)
        using (connection)
        {
            var pushed = client.DirectMessages.Take(2).ToList().ToTask();
            var pulled = client.ReadDirectMessagesAsync().Take(2).ToListAsync().AsTask();

            await client.SendDirectAsync("bob", "psst");
            var sent = await connection.ReadMessageAsync<DirectMessage>();
            var time = new DateTimeOffset(2026, 12, 1, 7, 20, 57, 123, TimeSpan.Zero);
            var echo = new DirectDeliveryMessage("alice", "bob", "psst") { Id = 7, Time = time };
            var incoming = new DirectDeliveryMessage("bob", "alice", "what?") { Id = 8, Time = time };
            await connection.SendAsync(echo, new ChatBroadcastMessage("carol", "lobby chat"), incoming);

            Assert.That(sent, Is.EqualTo(new DirectMessage("bob", "psst")));
            Assert.That(await pushed.WaitAsync(Deadline), Is.EqualTo(new[] { echo, incoming }));
            Assert.That(await pulled.WaitAsync(Deadline), Is.EqualTo(new[] { echo, incoming }));
            connection.Close();
        }
    }

    [Test]
    public async Task Refusals_of_direct_messages_arrive_on_Messages_as_errors()
    {
        using var broker = FakeBroker.Start();
        var (client, connection) = await broker.ConnectAsync([ChatCapabilities.Direct]);
        await using (client)
        using (connection)
        {
            var errors = client.Messages.OfType<ErrorMessage>().Take(2).ToList().ToTask();

            await client.SendDirectAsync("bob", "hi");
            await client.SendDirectAsync("carol", "hi");
            await connection.ReadMessageAsync<DirectMessage>();
            await connection.ReadMessageAsync<DirectMessage>();
            await connection.SendAsync(new ErrorMessage("no such user 'bob'"), new ErrorMessage("'carol' cannot receive direct messages"));

            Assert.That(await errors.WaitAsync(Deadline), Is.EqualTo(new[] { new ErrorMessage("no such user 'bob'"), new ErrorMessage("'carol' cannot receive direct messages") }));
            connection.Close();
        }
    }
}
