using LocalChatMesh.Protocol;
using LocalChatMesh.Testing;
using Microsoft.Reactive.Testing;

namespace LocalChatMesh.Tests.Hub.V2;

/// <summary>The version 2 example of docs/embedding.md, as written there: what users copy must work.</summary>
public class DocsExampleTests
{
    [Test]
    public void A_late_joiner_replays_the_rooms_recent_history_then_hears_it_live()
    {
        var time = new TestScheduler();
        using var broker = new InMemoryBroker(BrokerOptions.Default with { HistoryMaxAge = TimeSpan.FromHours(1) }, time);
        var alice = broker.Connect();
        alice.Send(new HelloMessage("alice") { Capabilities = ChatCapabilities.All });
        alice.Send(new JoinMessage("dev"));
        alice.Send(new ChatMessage("an hour and a minute ago") { Room = "dev" });
        time.AdvanceBy(TimeSpan.FromMinutes(1).Ticks);
        alice.Send(new ChatMessage("an hour ago") { Room = "dev" });
        time.AdvanceBy(TimeSpan.FromHours(1).Ticks);

        var bob = broker.Connect();
        bob.Send(new HelloMessage("bob") { Capabilities = ChatCapabilities.All });
        bob.Send(new JoinMessage("dev") { History = 10 });
        alice.Send(new ChatMessage("now") { Room = "dev" });

        var chats = bob.Received.OfType<ChatBroadcastMessage>().Select(chat => (chat.Text, chat.History)).ToList();
        Assert.That(chats, Is.EqualTo(new (string, bool?)[] { ("an hour ago", true), ("now", null) }));
        Assert.That(bob.Received.OfType<JoinedMessage>().Single().Participants, Is.EqualTo(new[] { "alice" }));
    }
}
