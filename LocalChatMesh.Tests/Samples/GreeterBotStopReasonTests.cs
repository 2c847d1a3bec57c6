using LocalChatMesh.Samples.GreeterBot;
using LocalChatMesh.Tests.Support;

namespace LocalChatMesh.Tests.Samples;

/// <summary>samples/GreeterBot says why it stopped.</summary>
public class GreeterBotStopReasonTests
{
    [Test]
    public async Task A_broker_shutting_down_is_the_reason_given()
    {
        await using var broker = await TestBroker.StartAsync();
        using var events = new EventRecorder(broker);
        var running = Greeter.RunAsync(broker.LocalEndPoint, "greeter");
        await events.WaitForAsync<ClientJoinedEvent>(e => e.Nickname == "greeter");

        await broker.StopAsync();

        Assert.That(await running.WaitAsync(RawClient.Deadline), Is.EqualTo("the broker closed the connection (broker shutting down)"));
    }

    [Test]
    public async Task Being_asked_to_stop_is_the_reason_given()
    {
        await using var broker = await TestBroker.StartAsync();
        using var events = new EventRecorder(broker);
        using var stop = new CancellationTokenSource();
        var running = Greeter.RunAsync(broker.LocalEndPoint, "greeter", stop.Token);
        await events.WaitForAsync<ClientJoinedEvent>(e => e.Nickname == "greeter");

        // Its welcome to alice shows it is past connecting and in its reading loop.
        await using var alice = await RawClient.JoinAsync(broker.LocalEndPoint, "alice");
        await alice.ExpectAsync<LocalChatMesh.Protocol.RosterMessage>();
        await alice.ExpectChatAsync("greeter", "welcome, alice!");
        await stop.CancelAsync();

        Assert.That(await running.WaitAsync(RawClient.Deadline), Is.EqualTo("asked to stop"));
    }
}
