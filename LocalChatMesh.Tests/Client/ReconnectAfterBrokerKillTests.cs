using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using LocalChatMesh.Protocol;
using LocalChatMesh.Tests.Storage;
using LocalChatMesh.Tests.Support;

namespace LocalChatMesh.Tests.Client;

/// <summary>
/// The real <c>chatmesh broker --store FILE</c> killed with SIGKILL in the middle of a chat among
/// several clients, and started again on the same port: every client comes back by itself and ends
/// with every accepted message exactly once, in the room's order.
/// </summary>
public class ReconnectAfterBrokerKillTests
{
    private const int LinesEach = 30;
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);
    private static readonly string[] Nicknames = ["alice", "bob", "carol"];

    [Test]
    public async Task Every_client_comes_back_by_itself_and_ends_with_every_accepted_message_once_in_order()
    {
        using var directory = new StoreDirectory();
        var store = directory.File();
        var broker = CliProcess.Start("broker", "--listen", "127.0.0.1:0", "--store", store);
        var restarted = (CliProcess?)null;
        try
        {
            var server = (await broker.WaitForBrokerAddressAsync()).ToString();
            var options = new ChatClientOptions
            {
                Capabilities = ChatCapabilities.All,
                Reconnect = new ChatReconnectPolicy { InitialDelay = TimeSpan.FromMilliseconds(50), MaxDelay = TimeSpan.FromMilliseconds(400) },
            };
            var clients = new List<ChatClient>();
            var seen = new List<RoomRecorder>();
            foreach (var nickname in Nicknames)
            {
                var client = await ChatClient.ConnectAsync(server, nickname, options).WaitAsync(Deadline);
                clients.Add(client);
                seen.Add(new RoomRecorder(await client.JoinAsync("dev").WaitAsync(Deadline)));
            }

            try
            {
                var chatting = clients.Select((client, index) => ChatAsync(client, seen[index].Room)).ToArray();

                // In the middle of the chat: the store has some of it, the senders are still going.
                await seen[0].WaitForAsync(list => list.Count >= LinesEach, "a third of the chat");
                var seenBeforeKill = seen[0].Items;
                await broker.SignalAsync("KILL");
                await broker.WaitForExitAsync();
                restarted = CliProcess.Start("broker", "--listen", server, "--store", store);
                await restarted.WaitForOutputLineAsync($"broker listening on {server}");

                await Task.WhenAll(chatting).WaitAsync(Deadline);
                foreach (var client in seen)
                {
                    await client.WaitForAsync(list => Nicknames.All(nickname => list.Any(m => m.Text == $"{nickname} done")), "every sender's last line");
                }

                await using var judge = await ChatClient.ConnectAsync(server, "judge", new ChatClientOptions { Capabilities = ChatCapabilities.All }).WaitAsync(Deadline);
                var history = await judge.JoinAsync("dev", new ChatJoinOptions { History = 1000 }).WaitAsync(Deadline);
                var accepted = await history.Messages.TakeWhile(m => m.History == true).TakeUntil(m => m.Id == history.Joined.LastId).ToList().ToTask().WaitAsync(Deadline);
                var expected = accepted.Select(m => (m.Id, m.Nickname, m.Text)).ToArray();

                Assert.That(expected.Select(m => m.Text), Is.Unique, "the broker accepted each line once");
                var counts = $"accepted {expected.Length} (last id {history.Joined.LastId}): {string.Join(" | ", expected.Select(m => $"{m.Id} {m.Text}"))}\n"
                    + string.Join("\n", seen.Select((s, i) => $"{Nicknames[i]} saw {s.Items.Count}: {string.Join(" | ", s.Items.Select(m => $"{m.Id} {m.Text}"))}; resumes {string.Join(", ", s.Resumes)}"));

                // Lines the broker had read but not yet stored when it was killed reached nobody and
                // may be gone (the senders do not know: they are never sent twice); what anybody saw
                // must be there.
                Assert.That(expected.Take(seenBeforeKill.Count), Is.EqualTo(seenBeforeKill.Select(m => (m.Id, m.Nickname, m.Text))), $"what alice saw before the kill was kept: {counts}");
                foreach (var nickname in Nicknames)
                {
                    var own = expected.Where(m => m.Nickname == nickname && !m.Text.EndsWith(" done", StringComparison.Ordinal)).Select(m => int.Parse(m.Text.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture));
                    Assert.That(own, Is.Ordered.Ascending.And.Unique, $"{nickname}'s lines in the order sent, none twice");
                }

                for (var i = 0; i < clients.Count; i++)
                {
                    Assert.That(seen[i].Items.Select(m => (m.Id, m.Nickname, m.Text)), Is.EqualTo(expected), $"{Nicknames[i]} saw every accepted message once, in order: {counts}");
                    Assert.That(clients[i].ConnectionState, Is.EqualTo(ChatConnectionState.Connected));
                    Assert.That(seen[i].Resumes, Is.Not.Empty.And.All.Property(nameof(ChatRoomResume.Recovered)).True, $"{Nicknames[i]} recovered with the store");
                }
            }
            finally
            {
                foreach (var client in clients)
                {
                    await client.DisposeAsync();
                }
            }
        }
        catch (AssertionException)
        {
            TestContext.Out.WriteLine(broker.Transcript());
            if (restarted is not null)
            {
                TestContext.Out.WriteLine(restarted.Transcript());
            }

            throw;
        }
        finally
        {
            await broker.DisposeAsync();
            if (restarted is not null)
            {
                await restarted.DisposeAsync();
            }
        }
    }

    // Sends its lines at a gentle pace; a line refused while reconnecting was not sent, so it is
    // sent again once the client is back (a line written before the loss never is).
    private static async Task ChatAsync(ChatClient client, ChatRoom room)
    {
        for (var i = 1; i <= LinesEach + 1; i++)
        {
            var text = i <= LinesEach ? $"{client.Nickname} {i}" : $"{client.Nickname} done";
            while (true)
            {
                try
                {
                    await room.SendAsync(text);
                    break;
                }
                catch (ChatConnectionException)
                {
                    await client.ConnectionStates.FirstAsync(status => status.State == ChatConnectionState.Connected).ToTask().WaitAsync(Deadline);
                }
            }

            await Task.Delay(10);
        }
    }
}
