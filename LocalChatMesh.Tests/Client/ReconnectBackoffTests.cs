using System.Net;
using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using LocalChatMesh.Protocol;
using LocalChatMesh.Tests.Support;
using Microsoft.Reactive.Testing;

namespace LocalChatMesh.Tests.Client;

/// <summary>
/// A client whose broker has gone away for good, its backoff on virtual time: each delay is read
/// from the states, then the clock is moved by exactly that much; the attempts really dial (and are
/// refused at once on loopback).
/// </summary>
public class ReconnectBackoffTests
{
    private static readonly TimeSpan Deadline = FakeBroker.Deadline;

    [Test]
    public async Task The_delays_grow_up_to_the_maximum_and_the_client_gives_up_after_max_attempts()
    {
        var clock = new TestScheduler();
        var policy = new ChatReconnectPolicy
        {
            InitialDelay = TimeSpan.FromSeconds(1),
            MaxDelay = TimeSpan.FromSeconds(5),
            Jitter = 0,
            MaxAttempts = 5,
            Scheduler = clock,
        };
        var broker = await TestBroker.StartAsync();
        await using var alice = await ChatClient.ConnectAsync(broker.LocalEndPoint, "alice", new ChatClientOptions { Capabilities = ChatCapabilities.All, Reconnect = policy }).WaitAsync(Deadline);
        using var states = new StatusLog(alice);
        var dev = await alice.JoinAsync("dev").WaitAsync(Deadline);
        var messages = alice.Messages.Materialize().ToList().ToTask();

        await broker.DisposeAsync();

        var delays = new List<TimeSpan>();
        for (var attempt = 1; attempt <= 5; attempt++)
        {
            var waiting = await states.WaitForAsync(ChatConnectionState.Reconnecting, attempt);
            delays.Add(waiting.Delay!.Value);
            Assert.That(waiting.Reason, attempt == 1 ? Is.EqualTo("broker shutting down") : Does.StartWith($"could not connect to {broker.LocalEndPoint}:"));
            Assert.That(alice.ConnectionState, Is.Not.EqualTo(ChatConnectionState.Closed));
            Assert.That(alice.Completion.IsCompleted, Is.False, "not over while reconnecting");
            Assert.That(dev.IsJoined, Is.True, "the room waits to be joined again");

            // Not a tick early: the attempt waits for its whole delay.
            clock.AdvanceBy(waiting.Delay!.Value.Ticks - 1);
            Assert.That(alice.ConnectionStatus, Is.EqualTo(waiting));
            clock.AdvanceBy(1);
        }

        var closed = await states.WaitForAsync(status => status.State == ChatConnectionState.Closed, "Closed");
        Assert.That(delays, Is.EqualTo(new[] { 1, 2, 4, 5, 5 }.Select(seconds => TimeSpan.FromSeconds(seconds))));
        Assert.That(closed.Reason, Does.StartWith($"gave up reconnecting after 5 attempts: could not connect to {broker.LocalEndPoint}:"));
        Assert.That(await alice.Completion.WaitAsync(Deadline), Is.EqualTo(ChatClientCloseReason.TransportFailure));
        Assert.That(await dev.Completion.WaitAsync(Deadline), Is.EqualTo(ChatRoomCloseReason.ConnectionEnded));
        var notifications = await messages.WaitAsync(Deadline);
        Assert.That(notifications[^1].Exception, Is.TypeOf<ChatConnectionException>().With.Message.StartsWith("gave up reconnecting after 5 attempts"));
        Assert.That(states.All.Select(status => status.State), Is.EqualTo(new[]
        {
            ChatConnectionState.Connected,
            ChatConnectionState.Reconnecting, ChatConnectionState.Connecting,
            ChatConnectionState.Reconnecting, ChatConnectionState.Connecting,
            ChatConnectionState.Reconnecting, ChatConnectionState.Connecting,
            ChatConnectionState.Reconnecting, ChatConnectionState.Connecting,
            ChatConnectionState.Reconnecting, ChatConnectionState.Connecting,
            ChatConnectionState.Closed,
        }));
    }

    [Test]
    public async Task Jittered_delays_stay_within_their_bounds_and_follow_the_seed()
    {
        var clock = new TestScheduler();
        var policy = new ChatReconnectPolicy
        {
            InitialDelay = TimeSpan.FromSeconds(1),
            MaxDelay = TimeSpan.FromSeconds(8),
            Jitter = 0.5,
            MaxAttempts = 6,
            Scheduler = clock,
            Random = new Random(1234),
        };
        var expected = new Random(1234);
        var broker = await TestBroker.StartAsync();
        await using var alice = await ChatClient.ConnectAsync(broker.LocalEndPoint, "alice", new ChatClientOptions { Reconnect = policy }).WaitAsync(Deadline);
        using var states = new StatusLog(alice);
        await alice.SendAsync("starts the reader");

        await broker.DisposeAsync();

        for (var attempt = 1; attempt <= 6; attempt++)
        {
            var waiting = await states.WaitForAsync(ChatConnectionState.Reconnecting, attempt);
            var full = TimeSpan.FromSeconds(Math.Min(8, Math.Pow(2, attempt - 1)));
            Assert.That(waiting.Delay, Is.InRange(full * 0.5, full * 1.5), $"attempt {attempt}");
            Assert.That(waiting.Delay, Is.EqualTo(TimeSpan.FromTicks((long)(full.Ticks * (0.5 + expected.NextDouble())))), "the seed decides");
            clock.AdvanceBy(waiting.Delay!.Value.Ticks);
        }

        Assert.That(await alice.Completion.WaitAsync(Deadline), Is.EqualTo(ChatClientCloseReason.TransportFailure));
        Assert.That(alice.ConnectionStatus.Reason, Does.StartWith("gave up reconnecting after 6 attempts"));
    }

    [Test]
    public async Task Without_a_policy_the_states_are_connected_then_closed_with_the_reason()
    {
        await using var broker = await TestBroker.StartAsync();
        await using var alice = await ChatClient.ConnectAsync(broker.LocalEndPoint, "alice").WaitAsync(Deadline);
        using var states = new StatusLog(alice);
        await alice.SendAsync("hi");

        await broker.StopAsync().WaitAsync(Deadline);

        Assert.That(await alice.Completion.WaitAsync(Deadline), Is.EqualTo(ChatClientCloseReason.ClosedByServer));
        Assert.That(states.All, Is.EqualTo(new[]
        {
            new ChatConnectionStatus(ChatConnectionState.Connected, 0, null, null),
            new ChatConnectionStatus(ChatConnectionState.Closed, 0, null, "broker shutting down"),
        }));
        Assert.That(alice.ConnectionState, Is.EqualTo(ChatConnectionState.Closed));
    }

    [Test]
    public async Task A_first_connection_that_fails_is_not_retried()
    {
        var broker = await TestBroker.StartAsync();
        var endPoint = broker.LocalEndPoint;
        await broker.DisposeAsync();
        var options = new ChatClientOptions { Reconnect = new ChatReconnectPolicy { Scheduler = new TestScheduler() } };

        var failure = Assert.ThrowsAsync<ChatConnectionException>(() => ChatClient.ConnectAsync(endPoint, "alice", options).WaitAsync(Deadline));

        Assert.That(failure!.Message, Does.StartWith($"could not connect to {endPoint}:"));
    }

    [Test]
    public async Task Disposing_while_reconnecting_stops_at_once()
    {
        var clock = new TestScheduler();
        var broker = await TestBroker.StartAsync();
        var alice = await ChatClient.ConnectAsync(broker.LocalEndPoint, "alice", new ChatClientOptions { Reconnect = new ChatReconnectPolicy { Scheduler = clock } }).WaitAsync(Deadline);
        using var states = new StatusLog(alice);
        var messages = alice.Messages.Materialize().ToList().ToTask();
        await broker.DisposeAsync();
        await states.WaitForAsync(ChatConnectionState.Reconnecting, 1);

        await alice.DisposeAsync().AsTask().WaitAsync(Deadline);

        Assert.That(await alice.Completion.WaitAsync(Deadline), Is.EqualTo(ChatClientCloseReason.ClosedByClient));
        Assert.That(alice.ConnectionStatus, Is.EqualTo(new ChatConnectionStatus(ChatConnectionState.Closed, 1, null, "closed by the client")));
        Assert.That((await messages.WaitAsync(Deadline))[^1].Kind, Is.EqualTo(System.Reactive.NotificationKind.OnCompleted));
        clock.AdvanceBy(TimeSpan.FromMinutes(5).Ticks);
        Assert.That(states.All.Count(status => status.State == ChatConnectionState.Connecting), Is.Zero, "no attempt after dispose");
    }

    [Test]
    public async Task Sends_while_reconnecting_throw_and_are_not_sent_later()
    {
        var clock = new TestScheduler();
        var broker = await TestBroker.StartAsync();
        var endPoint = broker.LocalEndPoint;
        var options = new ChatClientOptions { Capabilities = ChatCapabilities.All, Reconnect = new ChatReconnectPolicy { Scheduler = clock, Jitter = 0 } };
        await using var alice = await ChatClient.ConnectAsync(endPoint, "alice", options).WaitAsync(Deadline);
        using var states = new StatusLog(alice);
        var dev = await alice.JoinAsync("dev").WaitAsync(Deadline);
        await broker.DisposeAsync();
        await states.WaitForAsync(ChatConnectionState.Reconnecting, 1);

        var lobby = Assert.ThrowsAsync<ChatConnectionException>(() => alice.SendAsync("lost?"));
        var room = Assert.ThrowsAsync<ChatConnectionException>(() => dev.SendAsync("lost?"));
        var join = Assert.ThrowsAsync<ChatConnectionException>(() => alice.JoinAsync("ops"));

        Assert.That(lobby!.Message, Is.EqualTo($"not sent: the connection to {endPoint} was lost and the client is reconnecting (attempt 1)"));
        Assert.That(room!.Message, Is.EqualTo(lobby.Message));
        Assert.That(join!.Message, Is.EqualTo(lobby.Message));

        await using var again = await TestBroker.StartAsync(o => o with { EndPoint = endPoint });
        await using var bob = await ChatClient.ConnectAsync(endPoint, "bob", new ChatClientOptions { Capabilities = ChatCapabilities.All }).WaitAsync(Deadline);
        var bobDev = await bob.JoinAsync("dev").WaitAsync(Deadline);
        var bobHears = bobDev.Messages.Take(1).ToList().ToTask();
        var aliceBack = bobDev.ParticipantsChanged.FirstAsync(list => list.Contains("alice")).ToTask();
        clock.AdvanceBy(TimeSpan.FromSeconds(1).Ticks);
        await states.WaitForAsync(ChatConnectionState.Connected, 1);
        await aliceBack.WaitAsync(Deadline);
        await dev.SendAsync("back");

        Assert.That((await bobHears.WaitAsync(Deadline)).Select(m => m.Text), Is.EqualTo(new[] { "back" }), "the refused lines never went out");
    }

    [Test]
    public async Task Failover_tries_the_next_broker_in_the_list()
    {
        var clock = new TestScheduler();
        var first = await TestBroker.StartAsync();
        await using var second = await TestBroker.StartAsync();
        var options = new ChatClientOptions { Capabilities = ChatCapabilities.All, Reconnect = new ChatReconnectPolicy { Scheduler = clock, Jitter = 0 } };
        await using var alice = await ChatClient.ConnectAsync($"{first.LocalEndPoint},{second.LocalEndPoint}", "alice", options).WaitAsync(Deadline);
        using var states = new StatusLog(alice);
        var dev = await alice.JoinAsync("dev").WaitAsync(Deadline);
        var resumed = dev.Resumes.FirstAsync().ToTask();
        Assert.That(alice.RemoteEndPoint, Is.EqualTo(first.LocalEndPoint));

        await first.DisposeAsync();
        await states.WaitForAsync(ChatConnectionState.Reconnecting, 1);
        clock.AdvanceBy(TimeSpan.FromSeconds(1).Ticks);
        await states.WaitForAsync(ChatConnectionState.Connected, 1);

        Assert.That(alice.RemoteEndPoint, Is.EqualTo(second.LocalEndPoint));
        Assert.That(await resumed.WaitAsync(Deadline), Is.EqualTo(new ChatRoomResume(Recovered: false, Replayed: 0)), "another broker, another epoch");
        Assert.That(dev.IsJoined, Is.True);
    }

    [Test]
    public async Task A_list_of_brokers_connects_to_the_first_that_answers()
    {
        var gone = await TestBroker.StartAsync();
        var dead = gone.LocalEndPoint;
        await gone.DisposeAsync();
        await using var live = await TestBroker.StartAsync();

        await using var alice = await ChatClient.ConnectAsync(new IPEndPoint[] { dead, live.LocalEndPoint }, "alice").WaitAsync(Deadline);
        var none = Assert.ThrowsAsync<ChatConnectionException>(() => ChatClient.ConnectAsync(new IPEndPoint[] { dead, dead }, "bob").WaitAsync(Deadline));

        Assert.That(alice.RemoteEndPoint, Is.EqualTo(live.LocalEndPoint));
        Assert.That(none!.Message, Does.StartWith($"could not connect to {dead}:").And.Contains($"; could not connect to {dead}:"));
    }
}
