using LocalChatMesh.Protocol;
using LocalChatMesh.Tests.Support;

namespace LocalChatMesh.Tests.Broker.V2;

/// <summary>Over real sockets: a version 1 client sees exactly the bytes it always saw, whatever version 2 clients do around it.</summary>
public class VersionOneWireTests
{
    [Test]
    public async Task A_version_1_session_is_byte_for_byte_what_it_was_while_version_2_clients_use_rooms_and_direct()
    {
        await using var broker = await TestBroker.StartAsync();
        await using var victor = await RawClient.ConnectAsync(broker.LocalEndPoint);
        await victor.SendLineAsync("""{"type":"hello","nickname":"victor"}""");
        Assert.That(await victor.ReceiveRawLineAsync(), Is.EqualTo("""{"type":"welcome","nickname":"victor"}"""));

        await using var bob = await RawClient.ConnectAsync(broker.LocalEndPoint);
        await bob.SendLineAsync("""{"type":"hello","nickname":"bob","capabilities":["rooms","direct","history","meta"]}""");
        await bob.ExpectAsync<WelcomeMessage>();
        await bob.SendLineAsync("""{"type":"join","room":"dev"}""");
        await bob.ExpectAsync<JoinedMessage>();
        await bob.SendLineAsync("""{"type":"chat","room":"dev","text":"only dev hears this"}""");
        await bob.ExpectAsync<ChatBroadcastMessage>();
        await bob.SendLineAsync("""{"type":"join","room":"lobby","history":10}""");
        Assert.That(await victor.ReceiveRawLineAsync(), Is.EqualTo("""{"type":"user_joined","nickname":"bob"}"""));

        await using var carol = await RawClient.ConnectAsync(broker.LocalEndPoint);
        await carol.SendLineAsync("""{"type":"hello","nickname":"carol","capabilities":["meta","direct"]}""");
        Assert.That(await victor.ReceiveRawLineAsync(), Is.EqualTo("""{"type":"user_joined","nickname":"carol"}"""));

        await bob.SendLineAsync("""{"type":"chat","room":"lobby","text":"hi from v2 \u2713"}""");
        Assert.That(await victor.ReceiveRawLineAsync(), Is.EqualTo("""{"type":"chat","nickname":"bob","text":"hi from v2 ✓"}"""));

        await bob.SendLineAsync("""{"type":"direct","to":"carol","text":"private"}""");
        await bob.SendLineAsync("""{"type":"rooms"}""");
        await bob.SendLineAsync("""{"type":"who","room":"lobby"}""");
        await carol.SendLineAsync("""{"type":"chat","text":"carol in the lobby","room":"ignored-without-rooms"}""");
        Assert.That(await victor.ReceiveRawLineAsync(), Is.EqualTo("""{"type":"chat","nickname":"carol","text":"carol in the lobby"}"""));

        await bob.SendLineAsync("""{"type":"leave","room":"lobby"}""");
        Assert.That(await victor.ReceiveRawLineAsync(), Is.EqualTo("""{"type":"user_left","nickname":"bob"}"""));
        await carol.DisposeAsync();
        Assert.That(await victor.ReceiveRawLineAsync(), Is.EqualTo("""{"type":"user_left","nickname":"carol"}"""));

        await victor.SendLineAsync("""{"type":"join","room":"dev"}""");
        Assert.That(await victor.ReceiveRawLineAsync(), Is.EqualTo("""{"type":"error","message":"unknown message type 'join'"}"""));
        await victor.SendLineAsync("""{"type":"chat","text":"still v1"}""");
        Assert.That(await victor.ReceiveRawLineAsync(), Is.EqualTo("""{"type":"chat","nickname":"victor","text":"still v1"}"""));
    }

    [Test]
    public async Task A_version_1_joiner_gets_the_lobby_roster_in_version_1_form()
    {
        await using var broker = await TestBroker.StartAsync();
        await using var bob = await RawClient.ConnectAsync(broker.LocalEndPoint);
        await bob.SendLineAsync("""{"type":"hello","nickname":"bob","capabilities":["rooms"]}""");
        await bob.ExpectAsync<WelcomeMessage>();
        await bob.SendLineAsync("""{"type":"join","room":"lobby"}""");
        await bob.ExpectAsync<JoinedMessage>();
        await using var elsewhere = await RawClient.ConnectAsync(broker.LocalEndPoint);
        await elsewhere.SendLineAsync("""{"type":"hello","nickname":"eve","capabilities":["rooms"]}""");
        await elsewhere.ExpectAsync<WelcomeMessage>();

        await using var victor = await RawClient.ConnectAsync(broker.LocalEndPoint);
        await victor.SendLineAsync("""{"type":"hello","nickname":"victor"}""");

        Assert.That(await victor.ReceiveRawLineAsync(), Is.EqualTo("""{"type":"welcome","nickname":"victor"}"""));
        Assert.That(await victor.ReceiveRawLineAsync(), Is.EqualTo("""{"type":"roster","participants":["bob"]}"""), "eve is online but not in the lobby");
        Assert.That(await bob.ReceiveRawLineAsync(), Is.EqualTo("""{"type":"user_joined","nickname":"victor","room":"lobby"}"""));
    }
}
