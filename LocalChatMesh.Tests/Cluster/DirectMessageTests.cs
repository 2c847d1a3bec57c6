using LocalChatMesh.Cluster;
using System.Collections.Concurrent;
using LocalChatMesh.Cluster.Nats;
using static LocalChatMesh.Tests.Cluster.ClusterTesting;

namespace LocalChatMesh.Tests.Cluster;

/// <summary>Direct messages from one broker to a client of another: request and answer over core NATS.</summary>
public sealed class DirectMessageTests : NatsServerTests
{
    [Test]
    public async Task A_direct_message_reaches_the_recipients_broker_which_answers_what_became_of_it()
    {
        await using var sender = await NatsClusterEngine.ConnectAsync(Options(Server));
        await using var recipient = await NatsClusterEngine.ConnectAsync(sender.Options);
        var received = new ConcurrentQueue<(string To, string Text)>();
        recipient.ServeDirectMessages(direct =>
        {
            received.Enqueue((direct.RecipientKey, System.Text.Encoding.UTF8.GetString(direct.Payload.Span)));
            return direct.RecipientKey switch
            {
                "BOB" or "ＢＯＢ.2" => DirectDelivery.Delivered,
                "V1USER" => DirectDelivery.NotAccepted,
                _ => DirectDelivery.NoSuchUser,
            };
        });
        await recipient.TryReserveNicknameAsync("BOB", "bob", "s");
        var bob = await sender.FindNicknameAsync("BOB");

        Assert.That(await sender.SendDirectAsync(bob!.BrokerId, "BOB", Bytes("hi bob")), Is.EqualTo(DirectDelivery.Delivered));
        Assert.That(await sender.SendDirectAsync(recipient.BrokerId, "ＢＯＢ.2", Bytes("hi again")), Is.EqualTo(DirectDelivery.Delivered));
        Assert.That(await sender.SendDirectAsync(recipient.BrokerId, "V1USER", Bytes("x")), Is.EqualTo(DirectDelivery.NotAccepted));
        Assert.That(await sender.SendDirectAsync(recipient.BrokerId, "GONE", Bytes("x")), Is.EqualTo(DirectDelivery.NoSuchUser));
        Assert.That(received.Take(2), Is.EqualTo(new[] { ("BOB", "hi bob"), ("ＢＯＢ.2", "hi again") }));
    }

    [Test]
    public async Task A_direct_message_to_a_broker_that_is_gone_is_unreachable_not_an_exception()
    {
        await using var sender = await NatsClusterEngine.ConnectAsync(Options(Server));

        Assert.That(await sender.SendDirectAsync("nobody-000000", "BOB", Bytes("hi")), Is.EqualTo(DirectDelivery.Unreachable));
    }
}
