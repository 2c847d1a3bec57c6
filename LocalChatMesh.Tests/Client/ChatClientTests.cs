using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using System.Text;
using LocalChatMesh.Protocol;
using LocalChatMesh.Tests.Support;

namespace LocalChatMesh.Tests.Client;

public class ChatClientTests
{
    private static readonly TimeSpan Deadline = FakeBroker.Deadline;

    [Test]
    public async Task Connect_sends_hello_and_completes_on_welcome_with_the_echoed_nickname()
    {
        using var broker = FakeBroker.Start();
        var connecting = ChatClient.ConnectAsync(broker.EndPoint, "  alice ");
        using var connection = await broker.AcceptAsync();

        var hello = await connection.ReadMessageAsync<HelloMessage>();
        Assert.That(connecting.IsCompleted, Is.False, "connect must wait for welcome");
        await connection.SendAsync(new WelcomeMessage("alice"));
        await using var client = await connecting.WaitAsync(Deadline);

        Assert.That(hello, Is.EqualTo(new HelloMessage("  alice ")));
        Assert.That(client.Nickname, Is.EqualTo("alice"));
        Assert.That(client.Participants, Is.Empty);
        connection.Close(); // A broker closes when its client leaves; without this, dispose waits its grace.
    }

    [Test]
    public async Task Hello_carries_the_token_when_one_is_set()
    {
        using var broker = FakeBroker.Start();
        var connecting = ChatClient.ConnectAsync(broker.EndPoint, "alice", new ChatClientOptions { Token = "s3cret" });
        using var connection = await broker.AcceptAsync();

        var line = await connection.ReadLineAsync();
        await connection.SendAsync(new WelcomeMessage("alice"));
        await using var client = await connecting.WaitAsync(Deadline);

        Assert.That(line, Is.EqualTo("""{"type":"hello","nickname":"alice","token":"s3cret"}"""));
        connection.Close(); // A broker closes when its client leaves; without this, dispose waits its grace.
    }

    [Test]
    public async Task A_refused_handshake_throws_ChatHandshakeException_with_the_brokers_text()
    {
        using var broker = FakeBroker.Start();
        var connecting = ChatClient.ConnectAsync(broker.EndPoint, "alice");
        using var connection = await broker.AcceptAsync();
        await connection.ReadMessageAsync<HelloMessage>();
        await connection.SendAsync(new ErrorMessage("nickname 'alice' is already in use"));
        connection.Close();

        var exception = Assert.ThrowsAsync<ChatHandshakeException>(() => connecting.WaitAsync(Deadline));

        Assert.That(exception.ServerMessage, Is.EqualTo("nickname 'alice' is already in use"));
        Assert.That(exception.Message, Is.EqualTo("nickname 'alice' is already in use"));
        Assert.That(exception, Is.InstanceOf<ChatMeshException>());
    }

    [Test]
    public void A_refused_port_throws_ChatConnectionException_naming_the_address()
    {
        var endPoint = FakeBroker.RefusingEndPoint();

        var exception = Assert.ThrowsAsync<ChatConnectionException>(() => ChatClient.ConnectAsync(endPoint, "alice").WaitAsync(Deadline));

        Assert.That(exception.Message, Does.StartWith($"could not connect to 127.0.0.1:{endPoint.Port}: "));
        Assert.That(exception.Message, Does.Contain("refused").IgnoreCase);
    }

    [Test]
    public async Task A_broker_that_closes_before_welcome_gives_ChatConnectionException()
    {
        using var broker = FakeBroker.Start();
        var connecting = ChatClient.ConnectAsync(broker.EndPoint, "alice");
        using var connection = await broker.AcceptAsync();
        await connection.ReadMessageAsync<HelloMessage>();
        connection.Close();

        var exception = Assert.ThrowsAsync<ChatConnectionException>(() => connecting.WaitAsync(Deadline));

        Assert.That(exception.Message, Is.EqualTo($"could not connect to {broker.EndPoint}: the broker closed the connection before welcome"));
    }

    [Test]
    public async Task A_silent_broker_makes_connect_time_out()
    {
        using var broker = FakeBroker.Start();
        var options = new ChatClientOptions { ConnectTimeout = TimeSpan.FromMilliseconds(300) };
        var connecting = ChatClient.ConnectAsync(broker.EndPoint, "alice", options);
        using var connection = await broker.AcceptAsync();

        var exception = Assert.ThrowsAsync<ChatConnectionException>(() => connecting.WaitAsync(Deadline));

        Assert.That(exception.Message, Is.EqualTo($"could not connect to {broker.EndPoint}: no welcome within 0.3 s"));
    }

    [Test]
    public void Options_refuse_out_of_range_values_with_a_clear_message()
    {
        Assert.Multiple(() =>
        {
            Assert.That(() => new ChatClientOptions { MaxLineLength = 0 }, Throws.InstanceOf<ArgumentOutOfRangeException>().With.Message.Contains("MaxLineLength must be at least 1"));
            Assert.That(() => new ChatClientOptions { ReadBufferCapacity = 0 }, Throws.InstanceOf<ArgumentOutOfRangeException>().With.Message.Contains("ReadBufferCapacity must be at least 1"));
            Assert.That(() => new ChatClientOptions { ConnectTimeout = TimeSpan.Zero }, Throws.InstanceOf<ArgumentOutOfRangeException>().With.Message.Contains("ConnectTimeout must be positive"));
            Assert.That(new ChatClientOptions { ConnectTimeout = Timeout.InfiniteTimeSpan }.ConnectTimeout, Is.EqualTo(Timeout.InfiniteTimeSpan));
            Assert.That(ChatClientOptions.Default.MaxLineLength, Is.EqualTo(1024 * 1024));
            Assert.That(ChatClientOptions.Default.ReadBufferCapacity, Is.EqualTo(1024));
            Assert.That(ChatClientOptions.Default.ConnectTimeout, Is.EqualTo(TimeSpan.FromSeconds(10)));
        });
    }

    [Test]
    public async Task Roster_sent_with_welcome_reaches_a_consumer_attached_after_connect()
    {
        using var broker = FakeBroker.Start();
        var connecting = ChatClient.ConnectAsync(broker.EndPoint, "alice");
        using var connection = await broker.AcceptAndWelcomeAsync(new RosterMessage(["bob", "carol"]), new ChatBroadcastMessage("bob", "hi"));
        await using var client = await connecting.WaitAsync(Deadline);

        var first = await client.ReadMessagesAsync().Take(2).ToListAsync().AsTask().WaitAsync(Deadline);

        Assert.That(first, Is.EqualTo(new ServerMessage[] { new RosterMessage(["bob", "carol"]), new ChatBroadcastMessage("bob", "hi") }));
        connection.Close(); // A broker closes when its client leaves; without this, dispose waits its grace.
    }

    [Test]
    public async Task Participants_follow_roster_joins_and_leaves()
    {
        using var broker = FakeBroker.Start();
        var connecting = ChatClient.ConnectAsync(broker.EndPoint, "alice");
        using var connection = await broker.AcceptAndWelcomeAsync(new RosterMessage(["bob", "carol"]));
        await using var client = await connecting.WaitAsync(Deadline);
        var seen = new List<string[]>();
        var participantsWhenPublished = new List<string[]>();
        using var changes = client.ParticipantsChanged.Subscribe(list => seen.Add([.. list]));
        using var messages = client.Messages.Subscribe(_ => participantsWhenPublished.Add([.. client.Participants]));

        await connection.SendAsync(new UserJoinedMessage("dave"));
        await connection.SendAsync(new UserLeftMessage("bob"), new ChatBroadcastMessage("carol", "bye bob"));
        await connection.SendAsync(new UserLeftMessage("nobody"));
        connection.Close();
        await client.Completion.WaitAsync(Deadline);

        Assert.That(client.Participants, Is.EqualTo(new[] { "carol", "dave" }));
        Assert.That(seen, Is.EqualTo(new[]
        {
            Array.Empty<string>(),
            new[] { "bob", "carol" },
            new[] { "bob", "carol", "dave" },
            new[] { "carol", "dave" },
        }));

        // Each roster change is applied before its message is published.
        Assert.That(participantsWhenPublished, Is.EqualTo(new[]
        {
            new[] { "bob", "carol" },
            new[] { "bob", "carol", "dave" },
            new[] { "carol", "dave" },
            new[] { "carol", "dave" },
            new[] { "carol", "dave" },
        }).Or.EqualTo(new[]
        {
            // The subscription to Messages may come after the roster was read.
            new[] { "bob", "carol", "dave" },
            new[] { "carol", "dave" },
            new[] { "carol", "dave" },
            new[] { "carol", "dave" },
        }));
    }

    [Test]
    public async Task A_new_ParticipantsChanged_subscriber_gets_the_current_list_first()
    {
        using var broker = FakeBroker.Start();
        var connecting = ChatClient.ConnectAsync(broker.EndPoint, "alice");
        using var connection = await broker.AcceptAndWelcomeAsync(new RosterMessage(["bob"]));
        await using var client = await connecting.WaitAsync(Deadline);
        await client.ParticipantsChanged.FirstAsync(list => list.Count == 1).ToTask().WaitAsync(Deadline);

        var replayed = await client.ParticipantsChanged.FirstAsync().ToTask().WaitAsync(Deadline);

        Assert.That(replayed, Is.EqualTo(new[] { "bob" }));
    }

    [Test]
    public async Task Sent_lines_reach_the_broker_and_broadcasts_come_back()
    {
        using var broker = FakeBroker.Start();
        var connecting = ChatClient.ConnectAsync(broker.EndPoint, "alice");
        using var connection = await broker.AcceptAndWelcomeAsync();
        await using var client = await connecting.WaitAsync(Deadline);
        await using var messages = client.ReadMessagesAsync().GetAsyncEnumerator();
        var next = messages.MoveNextAsync().AsTask();

        await client.SendAsync("hello \"world\" ✓");
        var sent = await connection.ReadMessageAsync<ChatMessage>();
        await connection.SendAsync(new ChatBroadcastMessage("alice", sent.Text));

        Assert.That(sent, Is.EqualTo(new ChatMessage("hello \"world\" ✓")));
        Assert.That(await next.WaitAsync(Deadline), Is.True);
        Assert.That(messages.Current, Is.EqualTo(new ChatBroadcastMessage("alice", "hello \"world\" ✓")));
        connection.Close(); // A broker closes when its client leaves; without this, dispose waits its grace.
    }

    [Test]
    public async Task Push_and_pull_faces_see_the_same_messages_in_the_same_order()
    {
        const int count = 3000;
        using var broker = FakeBroker.Start();
        var connecting = ChatClient.ConnectAsync(broker.EndPoint, "alice", new ChatClientOptions { ReadBufferCapacity = 8 });
        using var connection = await broker.AcceptAndWelcomeAsync();
        await using var client = await connecting.WaitAsync(Deadline);
        var pushed = new List<ServerMessage>();
        var pushCompleted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var subscription = client.Messages.Subscribe(pushed.Add, () => pushCompleted.SetResult());
        await using var pull = client.ReadMessagesAsync().GetAsyncEnumerator();
        var first = pull.MoveNextAsync().AsTask();

        var burst = Enumerable.Range(0, count).Select<int, ServerMessage>(i => (i % 3) switch
        {
            0 => new ChatBroadcastMessage("bob", $"line {i}"),
            1 => new UserJoinedMessage($"user{i}"),
            _ => new UserLeftMessage($"user{i - 1}"),
        }).ToArray();
        var sending = Task.Run(async () =>
        {
            foreach (var chunk in burst.Chunk(100))
            {
                await connection.SendAsync(chunk);
            }

            connection.Close();
        });
        var pulled = new List<ServerMessage>();
        if (await first.WaitAsync(Deadline))
        {
            pulled.Add(pull.Current);
            while (await pull.MoveNextAsync().AsTask().WaitAsync(Deadline))
            {
                pulled.Add(pull.Current);
            }
        }

        await sending.WaitAsync(Deadline);
        await pushCompleted.Task.WaitAsync(Deadline);
        Assert.That(pushed, Is.EqualTo(burst));
        Assert.That(pulled, Is.EqualTo(burst));
        Assert.That(await client.Completion.WaitAsync(Deadline), Is.EqualTo(ChatClientCloseReason.ClosedByServer));
    }

    [Test]
    public async Task Dispose_is_a_clean_leave_the_broker_sees_as_end_of_stream()
    {
        using var broker = FakeBroker.Start();
        var connecting = ChatClient.ConnectAsync(broker.EndPoint, "alice");
        using var connection = await broker.AcceptAndWelcomeAsync();
        var client = await connecting.WaitAsync(Deadline);
        var completed = false;
        using var subscription = client.Messages.Subscribe(_ => { }, () => completed = true);

        var disposing = client.DisposeAsync().AsTask();
        var line = await connection.ReadLineAsync();
        connection.Close();
        await disposing.WaitAsync(Deadline);
        await client.DisposeAsync();

        Assert.That(line, Is.Null, "the broker reads end of stream");
        Assert.That(await client.Completion.WaitAsync(Deadline), Is.EqualTo(ChatClientCloseReason.ClosedByClient));
        Assert.That(completed, Is.True);
        Assert.ThrowsAsync<ObjectDisposedException>(() => client.SendAsync("too late"));
    }

    [Test]
    public async Task Dispose_does_not_wait_long_for_a_broker_that_never_closes()
    {
        using var broker = FakeBroker.Start();
        var connecting = ChatClient.ConnectAsync(broker.EndPoint, "alice");
        using var connection = await broker.AcceptAndWelcomeAsync();
        var client = await connecting.WaitAsync(Deadline);

        // Completing at all proves the bound: the fake broker never closes its side.
        await client.DisposeAsync().AsTask().WaitAsync(Deadline);

        Assert.That(await connection.ReadLineAsync(), Is.Null);
        Assert.That(await client.Completion.WaitAsync(Deadline), Is.EqualTo(ChatClientCloseReason.ClosedByClient));
    }

    [Test]
    public async Task When_the_broker_closes_Messages_completes_and_the_client_reports_it()
    {
        using var broker = FakeBroker.Start();
        var connecting = ChatClient.ConnectAsync(broker.EndPoint, "alice");
        using var connection = await broker.AcceptAndWelcomeAsync();
        await using var client = await connecting.WaitAsync(Deadline);
        var messages = client.Messages.ToList().ToTask();

        await connection.SendAsync(new ErrorMessage("broker shutting down"));
        connection.Close();

        Assert.That(await messages.WaitAsync(Deadline), Is.EqualTo(new[] { new ErrorMessage("broker shutting down") }));
        Assert.That(await client.Completion.WaitAsync(Deadline), Is.EqualTo(ChatClientCloseReason.ClosedByServer));
        Assert.ThrowsAsync<ChatConnectionException>(() => client.SendAsync("anyone?"));
        Assert.That(await client.ReadMessagesAsync().ToListAsync().AsTask().WaitAsync(Deadline), Is.Empty);
    }

    [Test]
    public async Task A_line_that_breaks_the_protocol_is_a_transport_failure_on_both_faces()
    {
        using var broker = FakeBroker.Start();
        var connecting = ChatClient.ConnectAsync(broker.EndPoint, "alice");
        using var connection = await broker.AcceptAndWelcomeAsync();
        await using var client = await connecting.WaitAsync(Deadline);
        var pushed = client.Messages.ToList().ToTask();
        var pulled = client.ReadMessagesAsync().ToListAsync().AsTask();

        await connection.SendLineAsync("""{"type":"shout","text":"HI"}""");

        var pushError = Assert.ThrowsAsync<ChatConnectionException>(() => pushed.WaitAsync(Deadline));
        var pullError = Assert.ThrowsAsync<ChatConnectionException>(() => pulled.WaitAsync(Deadline));
        Assert.That(pushError.Message, Is.EqualTo($"the connection to {broker.EndPoint} failed: the broker sent an invalid line: unknown message type 'shout'"));
        Assert.That(pullError, Is.SameAs(pushError));
        Assert.That(await client.Completion.WaitAsync(Deadline), Is.EqualTo(ChatClientCloseReason.TransportFailure));
    }

    [Test]
    public async Task Concurrent_sends_arrive_as_whole_lines_in_each_senders_order()
    {
        const int senders = 8;
        const int perSender = 200;
        using var broker = FakeBroker.Start();
        var connecting = ChatClient.ConnectAsync(broker.EndPoint, "alice");
        using var connection = await broker.AcceptAndWelcomeAsync();
        await using var client = await connecting.WaitAsync(Deadline);
        var padding = new string('x', 3000);

        var sending = Enumerable.Range(0, senders).Select(sender => Task.Run(async () =>
        {
            for (var i = 0; i < perSender; i++)
            {
                await client.SendAsync($"{sender}:{i}:{padding}");
            }
        })).ToArray();
        var received = new List<string>();
        for (var i = 0; i < senders * perSender; i++)
        {
            received.Add((await connection.ReadMessageAsync<ChatMessage>()).Text);
        }

        await Task.WhenAll(sending).WaitAsync(Deadline);
        var bySender = received.Select(text => text.Split(':')).GroupBy(parts => parts[0]).ToDictionary(g => g.Key, g => g.Select(parts => int.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture)).ToArray());
        Assert.That(received.All(text => text.EndsWith(padding, StringComparison.Ordinal)), Is.True);
        Assert.That(bySender, Has.Count.EqualTo(senders));
        Assert.That(bySender.Values, Has.All.EqualTo(Enumerable.Range(0, perSender).ToArray()));
        connection.Close(); // A broker closes when its client leaves; without this, dispose waits its grace.
    }

    [TestCase(true)]
    [TestCase(false)]
    public async Task A_consumer_that_does_not_keep_up_stalls_the_broker_instead_of_filling_memory(bool push)
    {
        const int count = 20_000;
        using var broker = FakeBroker.Start();
        var connecting = ChatClient.ConnectAsync(broker.EndPoint, "alice", new ChatClientOptions { ReadBufferCapacity = 4 });
        using var connection = await broker.AcceptAndWelcomeAsync();
        await using var client = await connecting.WaitAsync(Deadline);
        var gate = new ManualResetEventSlim();
        var received = 0;
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        IDisposable? subscription = null;
        await using var pull = client.ReadMessagesAsync().GetAsyncEnumerator();
        Task pulling = Task.CompletedTask;
        if (push)
        {
            subscription = client.Messages.Subscribe(_ =>
            {
                gate.Wait();
                received++;
            }, () => done.SetResult());
        }
        else
        {
            var first = pull.MoveNextAsync().AsTask();
            pulling = Task.Run(async () =>
            {
                gate.Wait();
                if (await first)
                {
                    received++;
                    while (await pull.MoveNextAsync())
                    {
                        received++;
                    }
                }

                done.SetResult();
            });
        }

        // About 20 MB: far more than the socket buffers hold, so the broker's sending must stall.
        var line = new ChatBroadcastMessage("bob", new string('x', 1000));
        var sending = Task.Run(async () =>
        {
            foreach (var chunk in Enumerable.Repeat<ServerMessage>(line, count).Chunk(100))
            {
                await connection.SendAsync(chunk);
            }

            connection.Close();
        });

        // This can only pass wrongly (on a machine too slow to send 20 MB in 2 s), never fail wrongly.
        var winner = await Task.WhenAny(sending, Task.Delay(TimeSpan.FromSeconds(2)));
        Assert.That(winner, Is.Not.SameAs(sending), "the broker sent everything although nobody was reading");
        Assert.That(received, Is.Zero);

        gate.Set();
        await sending.WaitAsync(Deadline);
        await done.Task.WaitAsync(Deadline);
        await pulling.WaitAsync(Deadline);
        subscription?.Dispose();
        Assert.That(received, Is.EqualTo(count));
    }

    [Test]
    public async Task An_enumeration_that_stops_early_does_not_hold_up_the_others()
    {
        using var broker = FakeBroker.Start();
        var connecting = ChatClient.ConnectAsync(broker.EndPoint, "alice", new ChatClientOptions { ReadBufferCapacity = 1 });
        using var connection = await broker.AcceptAndWelcomeAsync();
        await using var client = await connecting.WaitAsync(Deadline);
        var pushed = client.Messages.ToList().ToTask();
        using var stop = new CancellationTokenSource();

        // Both enumerations start here, synchronously, so both are attached before the burst.
        var quitter = client.ReadMessagesAsync().Take(1).ToListAsync().AsTask();
        var cancelled = CancelAfterFirstAsync();

        var burst = Enumerable.Range(0, 50).Select(i => (ServerMessage)new ChatBroadcastMessage("bob", $"{i}")).ToArray();
        await connection.SendAsync(burst);
        connection.Close();

        Assert.That(await pushed.WaitAsync(Deadline), Is.EqualTo(burst));
        Assert.That(await quitter.WaitAsync(Deadline), Is.EqualTo(burst[..1]));
        Assert.ThrowsAsync(Is.InstanceOf<OperationCanceledException>(), () => cancelled.WaitAsync(Deadline));

        async Task CancelAfterFirstAsync()
        {
            await foreach (var message in client.ReadMessagesAsync(stop.Token))
            {
                await stop.CancelAsync();
            }
        }
    }

    [Test]
    public async Task An_observer_may_dispose_the_client_from_inside_OnNext()
    {
        using var broker = FakeBroker.Start();
        var connecting = ChatClient.ConnectAsync(broker.EndPoint, "alice");
        using var connection = await broker.AcceptAndWelcomeAsync();
        var client = await connecting.WaitAsync(Deadline);
        Task? disposing = null;
        using var subscription = client.Messages.Subscribe(message =>
        {
            if (message is ChatBroadcastMessage { Text: "/leave" })
            {
                disposing = client.DisposeAsync().AsTask();
            }
        });

        await connection.SendAsync(new ChatBroadcastMessage("bob", "/leave"));

        Assert.That(await connection.ReadLineAsync(), Is.Null, "the broker sees a clean leave");
        Assert.That(await client.Completion.WaitAsync(Deadline), Is.EqualTo(ChatClientCloseReason.ClosedByClient));
        Assert.That(disposing, Is.Not.Null);
        await disposing!.WaitAsync(Deadline);
    }
}