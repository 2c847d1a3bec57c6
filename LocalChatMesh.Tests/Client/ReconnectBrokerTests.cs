using System.Net;
using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using LocalChatMesh.Protocol;
using LocalChatMesh.Tests.Support;
using Microsoft.Reactive.Testing;

namespace LocalChatMesh.Tests.Client;

/// <summary>
/// A client that comes back, against the real broker: a connection cut while the broker still holds
/// the nickname, and a broker restarted without a store. The reconnect delay runs on a
/// TestScheduler, so each test decides exactly what happens while the client is away.
/// </summary>
public class ReconnectBrokerTests
{
    private static readonly TimeSpan Deadline = FakeBroker.Deadline;
    private static readonly ChatClientOptions V2 = new() { Capabilities = ChatCapabilities.All };

    [Test]
    public async Task A_cut_connection_takes_its_nickname_back_with_its_session_and_recovers_what_it_missed_once()
    {
        var clock = new TestScheduler();
        await using var broker = await TestBroker.StartAsync();
        await using var proxy = TcpProxy.Start(broker.LocalEndPoint);
        await using var alice = await ChatClient.ConnectAsync(proxy.EndPoint, "alice", V2 with { Reconnect = new ChatReconnectPolicy { Scheduler = clock, Jitter = 0 } }).WaitAsync(Deadline);
        using var states = new StatusLog(alice);
        var session = alice.Session;
        var dev = await alice.JoinAsync("dev").WaitAsync(Deadline);
        var ops = await alice.JoinAsync("ops").WaitAsync(Deadline);
        var devSeen = new Recorder<ChatBroadcastMessage>(dev.Messages);
        var opsSeen = new Recorder<ChatBroadcastMessage>(ops.Messages);
        var allSeen = new Recorder<ServerMessage>(alice.Messages);
        var devResumes = new Recorder<ChatRoomResume>(dev.Resumes);
        var opsResumes = new Recorder<ChatRoomResume>(ops.Resumes);

        await using var bob = await ChatClient.ConnectAsync(broker.LocalEndPoint, "bob", V2).WaitAsync(Deadline);
        var bobDev = await bob.JoinAsync("dev").WaitAsync(Deadline);
        var bobOps = await bob.JoinAsync("ops").WaitAsync(Deadline);
        var bobSeen = new Recorder<ChatBroadcastMessage>(bobDev.Messages.Merge(bobOps.Messages));
        await bobDev.SendAsync("before");
        await devSeen.WaitForAsync(1);

        proxy.CutClients();
        var lost = await states.WaitForAsync(ChatConnectionState.Reconnecting, 1);
        Assert.That(lost.Delay, Is.EqualTo(TimeSpan.FromSeconds(1)));
        Assert.That(lost.Reason, Does.StartWith($"the connection to {proxy.EndPoint} failed:"));
        Assert.That(await bob.WhoAsync("dev").WaitAsync(Deadline), Does.Contain("alice"), "the broker still holds alice");

        await bobDev.SendAsync("missed 1");
        await bobDev.SendAsync("missed 2");
        await bobOps.SendAsync("missed in ops");
        await bobSeen.WaitForAsync(4);
        clock.AdvanceBy(TimeSpan.FromSeconds(1).Ticks);
        await states.WaitForAsync(ChatConnectionState.Connected, 1);

        Assert.That((devResumes.Items.Count, opsResumes.Items.Count), Is.EqualTo((1, 1)), "each room's resume comes before Connected");
        Assert.That(devSeen.Items.Count, Is.EqualTo(3), "and so does its replay");
        Assert.That(alice.Nickname, Is.EqualTo("alice"));
        Assert.That(alice.Session, Is.EqualTo(session));
        Assert.That(proxy.Held, Does.Contain("""{"type":"error","message":"connection replaced"}"""), "the stale connection was replaced at once");
        Assert.That(devResumes.Items, Is.EqualTo(new[] { new ChatRoomResume(Recovered: true, Replayed: 2) }));
        Assert.That(opsResumes.Items, Is.EqualTo(new[] { new ChatRoomResume(Recovered: true, Replayed: 1) }));
        Assert.That(dev.Joined.Recovered, Is.True);
        Assert.That(alice.Rooms, Is.EqualTo(new[] { dev, ops }), "the same room objects");

        await bobDev.SendAsync("after");
        await dev.SendAsync("alice is back");
        await devSeen.WaitForAsync(5);
        await bobSeen.WaitForAsync(6);

        Assert.That(devSeen.Items.Select(m => m.Text), Is.EqualTo(new[] { "before", "missed 1", "missed 2", "after", "alice is back" }));
        Assert.That(devSeen.Items.Select(m => m.Id), Is.Ordered.Ascending.And.Unique);
        Assert.That(devSeen.Items.Select(m => m.History), Is.EqualTo(new bool?[] { null, true, true, null, null }));
        Assert.That(opsSeen.Items.Select(m => m.Text), Is.EqualTo(new[] { "missed in ops" }));
        Assert.That(allSeen.Items.OfType<ChatBroadcastMessage>().Count(), Is.EqualTo(6), "Messages went on across the reconnect, each chat once");
        Assert.That(alice.Completion.IsCompleted, Is.False);
        Assert.That(dev.Participants, Is.EqualTo(new[] { "bob" }));
    }

    [Test]
    public async Task A_broker_restarted_without_a_store_has_a_new_epoch_and_every_room_hears_messages_may_be_missing()
    {
        var clock = new TestScheduler();
        var first = await TestBroker.StartAsync();
        var endPoint = first.LocalEndPoint;
        await using var alice = await ChatClient.ConnectAsync(endPoint, "alice", V2 with { Reconnect = new ChatReconnectPolicy { Scheduler = clock, Jitter = 0 } }).WaitAsync(Deadline);
        using var states = new StatusLog(alice);
        var dev = await alice.JoinAsync("dev").WaitAsync(Deadline);
        var ops = await alice.JoinAsync("ops").WaitAsync(Deadline);
        var devSeen = new Recorder<ChatBroadcastMessage>(dev.Messages);
        var devResumes = new Recorder<ChatRoomResume>(dev.Resumes);
        var opsResumes = new Recorder<ChatRoomResume>(ops.Resumes);
        await dev.SendAsync("one");
        await dev.SendAsync("two");
        await devSeen.WaitForAsync(2);
        var epoch = dev.Epoch;

        await first.DisposeAsync();
        var lost = await states.WaitForAsync(ChatConnectionState.Reconnecting, 1);
        await using var second = await TestBroker.StartAsync(options => options with { EndPoint = endPoint });
        clock.AdvanceBy(lost.Delay!.Value.Ticks);
        await states.WaitForAsync(ChatConnectionState.Connected, 1);

        Assert.That(lost.Reason, Is.EqualTo("broker shutting down"));
        Assert.That(devResumes.Items, Is.EqualTo(new[] { new ChatRoomResume(Recovered: false, Replayed: 0) }));
        Assert.That(opsResumes.Items, Is.EqualTo(new[] { new ChatRoomResume(Recovered: false, Replayed: 0) }));
        Assert.That(dev.Epoch, Is.Not.EqualTo(epoch));
        Assert.That(dev.Joined.Recovered, Is.False);

        // The new broker counts ids afresh: its chats are not taken for duplicates of the old ones.
        await using var bob = await ChatClient.ConnectAsync(endPoint, "bob", V2).WaitAsync(Deadline);
        var bobDev = await bob.JoinAsync("dev").WaitAsync(Deadline);
        await bobDev.SendAsync("after the restart");
        await devSeen.WaitForAsync(3); // two connections' lines have no order until the broker has read one
        await dev.SendAsync("me too");
        await devSeen.WaitForAsync(4);
        Assert.That(devSeen.Items.Select(m => m.Text), Is.EqualTo(new[] { "one", "two", "after the restart", "me too" }));
    }

    [Test]
    public async Task A_refused_handshake_on_reconnect_stops_reconnecting()
    {
        // A version 1 client has no session: while the broker still holds its nickname it is refused.
        var clock = new TestScheduler();
        await using var broker = await TestBroker.StartAsync();
        await using var proxy = TcpProxy.Start(broker.LocalEndPoint);
        await using var alice = await ChatClient.ConnectAsync(proxy.EndPoint, "alice", new ChatClientOptions { Reconnect = new ChatReconnectPolicy { Scheduler = clock } }).WaitAsync(Deadline);
        using var states = new StatusLog(alice);
        await alice.SendAsync("hi");

        proxy.CutClients();
        var lost = await states.WaitForAsync(ChatConnectionState.Reconnecting, 1);
        clock.AdvanceBy(lost.Delay!.Value.Ticks);

        Assert.That(await alice.Completion.WaitAsync(Deadline), Is.EqualTo(ChatClientCloseReason.ClosedByServer));
        Assert.That(alice.ConnectionStatus.State, Is.EqualTo(ChatConnectionState.Closed));
        Assert.That(alice.ConnectionStatus.Reason, Is.EqualTo($"could not reconnect to {proxy.EndPoint}: nickname 'alice' is already in use"));
    }

    [Test]
    public async Task A_connection_replaced_by_another_holder_of_the_session_is_not_taken_back()
    {
        await using var broker = await TestBroker.StartAsync();
        await using var first = await ChatClient.ConnectAsync(broker.LocalEndPoint, "alice", V2 with { Reconnect = new ChatReconnectPolicy { Scheduler = new TestScheduler() } }).WaitAsync(Deadline);
        using var states = new StatusLog(first);
        await first.JoinAsync("dev").WaitAsync(Deadline);

        await using var second = await ChatClient.ConnectAsync(broker.LocalEndPoint, "alice", V2 with { Session = first.Session }).WaitAsync(Deadline);

        Assert.That(await first.Completion.WaitAsync(Deadline), Is.EqualTo(ChatClientCloseReason.ClosedByServer));
        Assert.That(states.All.Select(status => (status.State, status.Reason)), Is.EqualTo(new[]
        {
            (ChatConnectionState.Connected, (string?)null),
            (ChatConnectionState.Closed, "connection replaced"),
        }));
    }

    /// <summary>Everything a stream delivers, to wait on by count with a deadline.</summary>
    private sealed class Recorder<T>
    {
        private readonly List<T> _items = [];
        private readonly Lock _lock = new();
        private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Recorder(IObservable<T> source)
        {
            source.Subscribe(
                item =>
                {
                    lock (_lock)
                    {
                        _items.Add(item);
                        _changed.TrySetResult();
                        _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
                    }
                },
                _ => { },
                () => { });
        }

        public IReadOnlyList<T> Items
        {
            get
            {
                lock (_lock)
                {
                    return [.. _items];
                }
            }
        }

        public async Task WaitForAsync(int count)
        {
            using var timeout = new CancellationTokenSource(Deadline);
            while (true)
            {
                Task changed;
                lock (_lock)
                {
                    if (_items.Count >= count)
                    {
                        return;
                    }

                    changed = _changed.Task;
                }

                try
                {
                    await changed.WaitAsync(timeout.Token);
                }
                catch (OperationCanceledException)
                {
                    throw new AssertionException($"{count} items expected within the deadline, got {Items.Count}: {string.Join(" | ", Items)}");
                }
            }
        }
    }
}
