using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using LocalChatMesh.Protocol;
using LocalChatMesh.Tests.Support;

namespace LocalChatMesh.Tests.Hardening;

/// <summary>
/// Faults against a real broker: a client killed with a full queue, a stop in the middle of
/// traffic, heavy churn, a garbage flood. Healthy clients must lose nothing, and the broker's own
/// accounting (participants, open connections, queued bytes) must return to its baseline.
/// </summary>
public class FaultTests
{
    private const int SoftLimit = 16 * 1024;
    private const int HardLimit = 64 * 1024;

    // Chats carry "sender's sequence number:padding" so that receivers can check order cheaply.
    private static readonly string Padding = new('p', 1000);

    [Test]
    public async Task A_client_reset_while_its_queue_is_full_costs_the_others_nothing_and_leaves_no_trace()
    {
        const int AfterReset = 200;
        string[] senders = ["h0", "h1"];
        await using var broker = await TestBroker.StartAsync(o => o with
        {
            OutboundSoftLimitBytes = SoftLimit,
            OutboundHardLimitBytes = HardLimit,
            DisconnectGrace = TimeSpan.FromMinutes(5), // the reset ends it, not the slow-consumer rule
        });
        using var events = new EventRecorder(broker, e => e is not ChatEvent);
        using var gauges = new BrokerGauges(broker);

        // Stuck joins first and never reads; a small receive buffer keeps the kernel from hiding its backlog.
        var stuck = await RawClient.JoinAsync(broker.LocalEndPoint, "stuck", receiveBufferSize: 4096);
        var healthy = new List<RawClient>();
        try
        {
            foreach (var nickname in senders.Append("watcher"))
            {
                healthy.Add(await RawClient.JoinAsync(broker.LocalEndPoint, nickname));
            }

            var reading = healthy.Select(client => Task.Run(() => ReadChatsUntilEndAsync(client, senders))).ToList();

            // The senders chat until the broker reports stuck lagging: its queue is full.
            var lagging = events.WaitForAsync<ClientLaggingEvent>(e => e.Nickname == "stuck");
            var sent = await Task.WhenAll(healthy.Take(senders.Length).Select(sender => Task.Run(async () =>
            {
                var n = 0;
                while (!lagging.IsCompleted)
                {
                    await sender.SendChatAsync(Numbered(n++));
                }

                return n;
            })));
            await lagging;
            Assert.That(gauges.QueuedBytes, Is.GreaterThan(SoftLimit), "stuck's backlog is still queued when it is killed");

            stuck.Reset();
            var gone = await events.WaitForAsync<ClientDisconnectedEvent>(e => e.Nickname == "stuck");
            Assert.That(gone.Reason, Is.AnyOf(DisconnectReason.TransportError, DisconnectReason.ClientClosed));

            // Traffic goes on after the reset, then each sender says it is done.
            await Task.WhenAll(healthy.Take(senders.Length).Select((sender, s) => Task.Run(async () =>
            {
                for (var n = sent[s]; n < sent[s] + AfterReset; n++)
                {
                    await sender.SendChatAsync(Numbered(n));
                }

                await sender.SendChatAsync("end");
            })));
            var views = await Task.WhenAll(reading);

            for (var c = 0; c < views.Length; c++)
            {
                for (var s = 0; s < senders.Length; s++)
                {
                    Assert.That(views[c].Chats[senders[s]], Is.EqualTo(Enumerable.Range(0, sent[s] + AfterReset)), $"client {c} heard every chat of {senders[s]} once, in order");
                }

                Assert.That(views[c].Left, Is.EqualTo(new[] { "stuck" }), $"client {c} heard stuck leave, once");
            }

            Assert.That(gauges.Total("chatmesh.deliveries.dropped"), Is.GreaterThan(0), "stuck's queue was full: messages for it were dropped");
            Assert.That(broker.Participants, Is.EqualTo(new[] { "h0", "h1", "watcher" }));
            await using (var again = await RawClient.JoinAsync(broker.LocalEndPoint, "stuck"))
            {
                Assert.That(await again.ReceiveAsync(), Is.EqualTo(new RosterMessage(["h0", "h1", "watcher"])));
            }

            await events.WaitForCountAsync<ClientDisconnectedEvent>(2);
            await gauges.WaitForBaselineAsync(connections: 3);
        }
        finally
        {
            await DisposeAllAsync(healthy);
            await stuck.DisposeAsync();
        }

        await events.WaitForCountAsync<ClientDisconnectedEvent>(5);
        Assert.That(broker.Participants, Is.Empty);
        await gauges.WaitForBaselineAsync(connections: 0);
    }

    [Test]
    public async Task Stopping_mid_send_tells_every_client_then_closes_and_nothing_throws()
    {
        var unobserved = new ConcurrentQueue<Exception>();
        void OnUnobserved(object? sender, UnobservedTaskExceptionEventArgs e) => unobserved.Enqueue(e.Exception);

        // Finalize what earlier tests left behind, so that only this test's tasks can be reported.
        CollectFinalizedTasks();
        TaskScheduler.UnobservedTaskException += OnUnobserved;
        var clients = new List<RawClient>();
        try
        {
            // A generous drain deadline: the point is what each client hears, not how fast.
            await using var broker = await TestBroker.StartAsync(o => o with { DrainTimeout = RawClient.Deadline });
            using var events = new EventRecorder(broker, e => e is not ChatEvent);
            Exception? eventsFailed = null;
            var eventsCompleted = false;
            using var watching = broker.Events.Subscribe(_ => { }, e => eventsFailed = e, () => eventsCompleted = true);

            // Three flood without pause; two joined clients and one mid-handshake have half a line
            // written; one has said nothing. Every one of them reads until the broker closes.
            string[] flooders = ["f0", "f1", "f2"];
            foreach (var nickname in flooders.Concat(["half0", "half1"]))
            {
                clients.Add(await RawClient.JoinAsync(broker.LocalEndPoint, nickname));
            }

            clients.Add(await RawClient.ConnectAsync(broker.LocalEndPoint));
            clients.Add(await RawClient.ConnectAsync(broker.LocalEndPoint));
            await events.WaitForCountAsync<ClientConnectedEvent>(clients.Count);
            await clients[3].SendAsync("{\"type\":\"chat\",\"text\":\"half a"u8.ToArray());
            await clients[4].SendAsync("{\"type\":\"chat\",\"te"u8.ToArray());
            await clients[5].SendAsync("{\"type\":\"hello\",\"nick"u8.ToArray());

            var echoed = flooders.Select(_ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).ToArray();
            var reading = clients.Select((client, i) => Task.Run(() => ReadUntilClosedAsync(client, message =>
            {
                // A flooder is mid-send for sure once its 20th chat has come back.
                if (i < flooders.Length && message == new ChatBroadcastMessage(flooders[i], Numbered(19)))
                {
                    echoed[i].TrySetResult();
                }
            }))).ToList();
            var flooding = flooders.Select((_, i) => Task.Run(() => FloodUntilClosedAsync(clients[i], reading[i]))).ToList();
            await Task.WhenAll(echoed.Select(e => e.Task)).WaitAsync(RawClient.Deadline);

            var stopping = broker.StopAsync();
            var heard = await Task.WhenAll(clients.Select(async (client, i) =>
            {
                var messages = await reading[i];
                if (i < flooding.Count)
                {
                    await flooding[i];
                }

                // A client closes its side once the broker has closed, as a real one would.
                await client.DisposeAsync();
                return messages;
            }));
            await stopping.WaitAsync(RawClient.Deadline);

            for (var c = 0; c < clients.Count; c++)
            {
                Assert.That(heard[c], Is.Not.Empty, $"client {c}");
                Assert.That(heard[c][^1], Is.EqualTo(new ErrorMessage("broker shutting down")), $"client {c}: the notice, then the close");
                Assert.That(heard[c].OfType<UserLeftMessage>(), Is.Empty, $"client {c}: nobody left, the broker stopped");
                foreach (var flooder in flooders)
                {
                    Assert.That(heard[c].OfType<ChatBroadcastMessage>().Where(m => m.Nickname == flooder).Select(Sequence), Is.Ordered.Ascending.And.Unique, $"client {c} hears {flooder} in order");
                }
            }

            var log = events.Snapshot();
            Assert.That(log.OfType<ClientErrorEvent>().Count(e => e.Message == "broker shutting down"), Is.EqualTo(clients.Count));
            Assert.That(log.OfType<ClientDisconnectedEvent>().Select(e => e.Reason), Is.EqualTo(Enumerable.Repeat(DisconnectReason.Shutdown, clients.Count)));
            Assert.That(broker.Completion.IsCompletedSuccessfully, Is.True);
            Assert.That(eventsFailed, Is.Null);
            Assert.That(eventsCompleted, Is.True, "the event stream completes when the broker stops");
        }
        finally
        {
            await DisposeAllAsync(clients);
            CollectFinalizedTasks();
            TaskScheduler.UnobservedTaskException -= OnUnobserved;
        }

        Assert.That(unobserved, Is.Empty, "no task failed unobserved");
    }

    [Test]
    public async Task Under_churn_stable_clients_hear_everything_once_in_order_and_accounting_returns_to_baseline()
    {
        const int ChatsEach = 100;
        const int ShortLived = 200;
        string[] stable = ["s0", "s1", "s2", "s3"];
        await using var broker = await TestBroker.StartAsync();
        using var events = new EventRecorder(broker);
        using var gauges = new BrokerGauges(broker);
        var clients = new List<RawClient>();
        try
        {
            foreach (var nickname in stable)
            {
                clients.Add(await RawClient.JoinAsync(broker.LocalEndPoint, nickname));
            }

            await gauges.WaitForBaselineAsync(connections: stable.Length);
            var end = new ChatBroadcastMessage("s0", "end");
            var reading = clients.Select(client => Task.Run(() => ReadUntilAsync(client, end))).ToList();
            var chatting = clients.Select(client => Task.Run(async () =>
            {
                for (var n = 0; n < ChatsEach; n++)
                {
                    await client.SendChatAsync(n.ToString(CultureInfo.InvariantCulture));
                }
            }));

            // Short-lived clients come and go, 16 at a time, in every way a client can.
            var churning = Parallel.ForEachAsync(
                Enumerable.Range(0, ShortLived),
                new ParallelOptions { MaxDegreeOfParallelism = 16 },
                async (i, _) => await ShortLivedAsync(broker.LocalEndPoint, i));
            await Task.WhenAll(chatting);
            await churning;

            // Once every short-lived connection is gone, s0's "end" is the last broadcast.
            await events.WaitForCountAsync<ClientDisconnectedEvent>(ShortLived);
            await clients[0].SendChatAsync("end");
            var views = await Task.WhenAll(reading);

            var log = events.Snapshot();
            for (var c = 0; c < stable.Length; c++)
            {
                Assert.That(views[c], Is.EqualTo(ExpectedView(log, stable[c], stable[..c], end)), $"{stable[c]} heard exactly what the broker did");
                foreach (var sender in stable)
                {
                    var texts = views[c].OfType<ChatBroadcastMessage>().Where(m => m.Nickname == sender && m.Text != "end").Select(m => m.Text);
                    Assert.That(texts, Is.EqualTo(Enumerable.Range(0, ChatsEach).Select(n => n.ToString(CultureInfo.InvariantCulture))), $"{stable[c]} heard {sender} once each, in order");
                }
            }

            Assert.That(gauges.Total("chatmesh.connections.accepted"), Is.EqualTo(stable.Length + ShortLived));
            Assert.That(broker.Participants, Is.EqualTo(stable));
            await using (var late = await RawClient.JoinAsync(broker.LocalEndPoint, "t002"))
            {
                Assert.That(await late.ReceiveAsync(), Is.EqualTo(new RosterMessage(stable)), "the short-lived left no ghost");
            }

            await events.WaitForCountAsync<ClientDisconnectedEvent>(ShortLived + 1);
            await gauges.WaitForBaselineAsync(connections: stable.Length);
        }
        finally
        {
            await DisposeAllAsync(clients);
        }
    }

    [Test]
    public async Task A_client_flooding_bad_lines_without_reading_stays_within_the_hard_limit()
    {
        const int Lines = 200_000;
        await using var broker = await TestBroker.StartAsync(o => o with
        {
            OutboundSoftLimitBytes = SoftLimit,
            OutboundHardLimitBytes = HardLimit,
            DisconnectGrace = TimeSpan.FromMinutes(5),
        });
        using var events = new EventRecorder(broker, e => e is not ClientErrorEvent);
        using var gauges = new BrokerGauges(broker);
        var errors = 0;
        var answered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var counting = broker.Events.Subscribe(e =>
        {
            if (e is ClientErrorEvent && Interlocked.Increment(ref errors) == Lines)
            {
                answered.TrySetResult();
            }
        });
        await using var bystander = await RawClient.JoinAsync(broker.LocalEndPoint, "bystander");
        var mallory = await RawClient.JoinAsync(broker.LocalEndPoint, "mallory", receiveBufferSize: 4096);
        try
        {
            Assert.That(await bystander.ReceiveAsync(), Is.EqualTo(new UserJoinedMessage("mallory")));

            // Three bytes are answered with 70 bytes of error: 14 MB if all were kept, far more than
            // the kernel's socket buffers (up to 4 MB here) can hide.
            var garbage = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("[]\n", Lines)));
            var sending = Task.Run(() => mallory.SendAsync(garbage));
            await answered.Task.WaitAsync(RawClient.Deadline);
            await sending;

            Assert.That(gauges.QueuedBytes, Is.LessThanOrEqualTo(HardLimit), "what is queued for mallory stays within the hard limit");
            Assert.That(gauges.Total("chatmesh.deliveries.dropped"), Is.GreaterThan(0));
            await events.WaitForAsync<ClientLaggingEvent>(e => e.Nickname == "mallory");
            await bystander.SendChatAsync("still here");
            await bystander.ExpectChatAsync("bystander", "still here");
        }
        finally
        {
            mallory.Reset();
        }

        Assert.That(await bystander.ReceiveAsync(), Is.EqualTo(new UserLeftMessage("mallory")));
        await events.WaitForAsync<ClientDisconnectedEvent>();
        await gauges.WaitForBaselineAsync(connections: 1);
    }

    // One short-lived client, by its index: joins and leaves, chats, resets, quits before hello,
    // resets mid-hello, or asks for a nickname in use.
    private static async Task ShortLivedAsync(IPEndPoint endPoint, int index)
    {
        var nickname = $"t{index:000}";
        switch (index % 6)
        {
            case 0:
                await (await RawClient.JoinAsync(endPoint, nickname)).DisposeAsync();
                break;
            case 1:
                await using (var chatter = await RawClient.JoinAsync(endPoint, nickname))
                {
                    await chatter.SendChatAsync("bye");
                    await ReadUntilAsync(chatter, new ChatBroadcastMessage(nickname, "bye"));
                }

                break;
            case 2:
                (await RawClient.JoinAsync(endPoint, nickname)).Reset();
                break;
            case 3:
                await (await RawClient.ConnectAsync(endPoint)).DisposeAsync();
                break;
            case 4:
                var halfway = await RawClient.ConnectAsync(endPoint);
                await halfway.SendAsync("{\"type\":\"hello\",\"nickname\":\"t"u8.ToArray());
                halfway.Reset();
                break;
            default:
                await using (var impostor = await RawClient.ConnectAsync(endPoint))
                {
                    await impostor.SendAsync(new HelloMessage("S1"));
                    await impostor.ExpectErrorAsync("nickname 'S1' is already in use");
                    Assert.That(await impostor.WaitForClosedAsync(), Is.Empty);
                }

                break;
        }
    }

    /// <summary>
    /// What a client that joined as <paramref name="nickname"/> should have heard: a roster of those
    /// before it, then the broker's own order of joins, leaves and chats, up to <paramref name="last"/>.
    /// </summary>
    private static List<ServerMessage> ExpectedView(IReadOnlyList<BrokerEvent> log, string nickname, string[] before, ServerMessage last)
    {
        var expected = new List<ServerMessage>();
        if (before.Length > 0)
        {
            expected.Add(new RosterMessage(before));
        }

        var joined = log.ToList().FindIndex(e => e is ClientJoinedEvent j && j.Nickname == nickname);
        foreach (var brokerEvent in log.Skip(joined + 1))
        {
            ServerMessage? message = brokerEvent switch
            {
                ClientJoinedEvent j => new UserJoinedMessage(j.Nickname),
                ClientDisconnectedEvent { Nickname: { } left } => new UserLeftMessage(left),
                ChatEvent chat => new ChatBroadcastMessage(chat.Nickname, chat.Text),
                _ => null,
            };
            if (message is not null)
            {
                expected.Add(message);
            }

            if (message == last)
            {
                break;
            }
        }

        return expected;
    }

    /// <summary>Reads every message up to and including <paramref name="last"/>.</summary>
    private static async Task<List<ServerMessage>> ReadUntilAsync(RawClient client, ServerMessage last)
    {
        var messages = new List<ServerMessage>();
        while (messages.Count == 0 || messages[^1] != last)
        {
            messages.Add(await client.ReceiveAsync());
        }

        return messages;
    }

    /// <summary>Reads until the broker closes; returns everything heard.</summary>
    private static async Task<List<ServerMessage>> ReadUntilClosedAsync(RawClient client, Action<ServerMessage> onMessage)
    {
        var messages = new List<ServerMessage>();
        while (true)
        {
            ServerMessage message;
            try
            {
                message = await client.ReceiveAsync();
            }
            catch (EndOfStreamException)
            {
                return messages;
            }

            messages.Add(message);
            onMessage(message);
        }
    }

    // Sends numbered chats until its reader has seen the broker close the connection.
    private static async Task FloodUntilClosedAsync(RawClient client, Task closed)
    {
        var n = 0;
        while (!closed.IsCompleted)
        {
            try
            {
                await client.SendChatAsync(Numbered(n++));
            }
            catch (SocketException)
            {
                // The broker cut the connection under the send: expected once it has closed.
                await closed;
                return;
            }
        }
    }

    /// <summary>
    /// Reads until every sender has said "end"; keeps only each sender's sequence numbers (so the
    /// test's own memory stays flat) and who left. Anything else would be a lost or stray message.
    /// </summary>
    private static async Task<(Dictionary<string, List<int>> Chats, List<string> Left)> ReadChatsUntilEndAsync(RawClient client, string[] senders)
    {
        var chats = senders.ToDictionary(s => s, _ => new List<int>());
        var left = new List<string>();
        var ended = 0;
        while (ended < senders.Length)
        {
            switch (await client.ReceiveAsync())
            {
                case ChatBroadcastMessage { Text: "end" }:
                    ended++;
                    break;
                case ChatBroadcastMessage chat:
                    chats[chat.Nickname].Add(Sequence(chat));
                    break;
                case UserLeftMessage leave:
                    left.Add(leave.Nickname);
                    break;
                case RosterMessage or UserJoinedMessage:
                    break;
                case var other:
                    Assert.Fail($"unexpected {other}");
                    break;
            }
        }

        return (chats, left);
    }

    private static string Numbered(int n) => n.ToString(CultureInfo.InvariantCulture) + ":" + Padding;

    private static int Sequence(ChatBroadcastMessage chat) =>
        int.Parse(chat.Text.AsSpan(0, chat.Text.IndexOf(':', StringComparison.Ordinal)), CultureInfo.InvariantCulture);

    private static async Task DisposeAllAsync(IEnumerable<RawClient> clients)
    {
        foreach (var client in clients)
        {
            await client.DisposeAsync();
        }
    }

    private static void CollectFinalizedTasks()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
    }
}
