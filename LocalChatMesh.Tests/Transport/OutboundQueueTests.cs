using System.Net;
using System.Net.Sockets;
using LocalChatMesh.Diagnostics;
using LocalChatMesh.Tests.Support;
using LocalChatMesh.Transport;

namespace LocalChatMesh.Tests.Transport;

/// <summary>
/// The outbound queue and its send scheduler over a real loopback socket pair: order, frames
/// bigger than the coalescing buffer, a socket that fills up, accounting, close and abort.
/// </summary>
public class OutboundQueueTests
{
    [Test]
    public async Task Frames_arrive_in_order_through_a_full_socket_and_the_count_returns_to_zero()
    {
        await using var pair = await SocketPair.CreateAsync(receiveBufferSize: 4096);
        using var metrics = NoMetrics();
        var gate = new BackpressureGate();
        var queue = NewQueue(pair, metrics, gate: gate);

        // Small frames, one far bigger than the scheduler's buffer and than what the socket takes
        // at once, then small frames again: every path of the writer, while nobody reads yet.
        var frames = new List<byte[]>();
        for (var i = 0; i < 2_000; i++)
        {
            frames.Add(Frame(i, 40 + (i % 50)));
        }

        frames.Add(Frame(-1, 3 * SendScheduler.BufferSize + 17));
        for (var i = 2_000; i < 4_000; i++)
        {
            frames.Add(Frame(i, 60));
        }

        foreach (var frame in frames)
        {
            queue.Enqueue(frame);
        }

        var expected = frames.SelectMany(frame => frame).ToArray();
        var received = await pair.ReadAsync(expected.Length);
        queue.Close();
        var written = await queue.Completion.WaitAsync(RawClient.Deadline);
        var end = await pair.ReadToEndAsync();

        Assert.Multiple(() =>
        {
            Assert.That(received, Is.EqualTo(expected), "every byte, in order");
            Assert.That(written, Is.True, "closed after writing everything");
            Assert.That(end, Is.Empty, "nothing after the queued frames");
            Assert.That(queue.BufferedBytes, Is.Zero);
            Assert.That(queue.FlushedBytes, Is.EqualTo(expected.Length));
        });
    }

    [Test]
    public async Task Frames_queued_while_the_flush_gives_the_queue_up_all_arrive_in_order()
    {
        // The queue has no lock between the hub (producer) and the flush (consumer): a frame queued
        // just as the flush finds the queue empty and gives it up must still be written. Bursts of
        // every length, pauses that let the flush go idle, and idle ticks that let the segments go,
        // while the peer reads: every frame must arrive once, in order.
        await using var pair = await SocketPair.CreateAsync();
        using var metrics = NoMetrics();
        var queue = NewQueue(pair, metrics);
        var random = new Random(14);
        var frames = new List<byte[]>();
        for (var i = 0; i < 60_000; i++)
        {
            frames.Add(Frame(i, 8 + (i % 40)));
        }

        var expected = frames.SelectMany(frame => frame).ToArray();
        var reading = pair.ReadAsync(expected.Length);
        var producing = Task.Run(() =>
        {
            var next = 0;
            while (next < frames.Count)
            {
                var burst = Math.Min(random.Next(1, 300), frames.Count - next);
                for (var i = 0; i < burst; i++)
                {
                    queue.Enqueue(frames[next++]);
                }

                switch (random.Next(4))
                {
                    case 0:
                        Thread.SpinWait(random.Next(1, 2000));
                        break;
                    case 1:
                        queue.ReleaseIdleMemory();
                        queue.ReleaseIdleMemory();
                        break;
                    case 2:
                        Thread.Yield();
                        break;
                }
            }
        });

        await producing.WaitAsync(RawClient.Deadline);
        var received = await reading;
        queue.Close();
        var written = await queue.Completion.WaitAsync(RawClient.Deadline);

        Assert.Multiple(() =>
        {
            Assert.That(received.AsSpan().SequenceEqual(expected), Is.True, "every frame once, in order");
            Assert.That(written, Is.True);
            Assert.That(queue.BufferedBytes, Is.Zero);
            Assert.That(queue.FlushedBytes, Is.EqualTo(expected.Length));
        });
    }

    [Test]
    public async Task A_frame_queued_as_the_flush_gives_the_queue_up_is_written()
    {
        // Ping-pong: the next frame is queued the moment the peer has the previous one, which is
        // while the flush that wrote it returns from the send, finds the queue empty and gives it
        // up. A frame left behind there would be written only with the next, which never comes.
        await using var pair = await SocketPair.CreateAsync();
        using var metrics = NoMetrics();
        var queue = NewQueue(pair, metrics);
        var frame = Frame(7, 16);

        Assert.That(await PingPongAsync(pair, () => queue.Enqueue(frame), frame.Length, 20_000), Is.EqualTo(20_000));
    }

    [Test]
    public async Task Writes_a_reader_defers_are_made_after_the_engine_batch_and_every_wake_arms_again()
    {
        // A scheduler that writes after the engine's batch: a reader's flush waits for one byte
        // through the scheduler's loopback pair. Ping-pong: the next frame is deferred the moment
        // the peer has the previous one, which is while the wake that wrote it disarms and writes.
        // A wake that stayed armed, or a frame deferred just as it disarmed and left behind, would
        // never be written.
        using var scheduler = new SendScheduler(writeAfterEngineBatch: true);
        await using var pair = await SocketPair.CreateAsync();
        using var metrics = NoMetrics();
        var queue = NewQueue(pair, metrics, scheduler: scheduler);
        var frame = Frame(3, 24);

        Assert.That(await PingPongAsync(pair, () => EnqueueAsReader(queue, frame), frame.Length, 10_000), Is.EqualTo(10_000));
    }

    [Test]
    public async Task A_batch_of_deferred_writes_to_many_connections_goes_out_whole_and_in_order()
    {
        // One deferral queues many frames for several connections (a broadcast per line of a
        // receive); the wake that follows writes them all, each connection's in order.
        using var scheduler = new SendScheduler(writeAfterEngineBatch: true);
        using var metrics = NoMetrics();
        var pairs = new List<SocketPair>();
        try
        {
            var queues = new List<OutboundQueue>();
            for (var i = 0; i < 4; i++)
            {
                var pair = await SocketPair.CreateAsync();
                pairs.Add(pair);
                queues.Add(NewQueue(pair, metrics, scheduler: scheduler));
            }

            var frames = Enumerable.Range(0, 500).Select(i => Frame(i, 30 + (i % 20))).ToList();
            await Task.Run(() =>
            {
                SendScheduler.Defer(true);
                foreach (var frame in frames)
                {
                    foreach (var queue in queues)
                    {
                        queue.Enqueue(frame);
                    }
                }

                SendScheduler.Defer(false);
            });

            var expected = frames.SelectMany(frame => frame).ToArray();
            foreach (var pair in pairs)
            {
                Assert.That(await pair.ReadAsync(expected.Length), Is.EqualTo(expected));
            }
        }
        finally
        {
            foreach (var pair in pairs)
            {
                await pair.DisposeAsync();
            }
        }
    }

    [Test]
    public async Task Once_the_scheduler_is_disposed_a_deferred_write_goes_to_the_pool_and_is_made()
    {
        var scheduler = new SendScheduler(writeAfterEngineBatch: true);
        await using var pair = await SocketPair.CreateAsync();
        using var metrics = NoMetrics();
        var queue = NewQueue(pair, metrics, scheduler: scheduler);
        scheduler.Dispose();
        var frame = Frame(5, 40);

        await Task.Run(() => EnqueueAsReader(queue, frame));

        Assert.That(await pair.ReadAsync(frame.Length), Is.EqualTo(frame));
    }

    [Test]
    public async Task A_close_made_as_the_flush_gives_the_queue_up_still_ends_the_stream_after_every_frame()
    {
        // Close is made the moment the peer has the last frame, which is while the flush that
        // wrote it finds the queue empty and gives it up: a close left behind there would never
        // shut the stream down. Every round must write all its frames, then end the stream.
        using var metrics = NoMetrics();
        var scheduler = new SendScheduler();
        for (var round = 0; round < 300; round++)
        {
            await using var pair = await SocketPair.CreateAsync();
            pair.Client.ReceiveTimeout = (int)RawClient.Deadline.TotalMilliseconds;
            var queue = NewQueue(pair, metrics, scheduler: scheduler);
            var frames = Enumerable.Range(0, 1 + (round % 3)).Select(i => Frame(i, 20 + i)).ToList();
            var expected = frames.SelectMany(frame => frame).ToArray();
            var received = new byte[expected.Length];
            await Task.Run(() =>
            {
                foreach (var frame in frames)
                {
                    queue.Enqueue(frame);
                }

                var read = 0;
                while (read < expected.Length)
                {
                    // Blocking: back as soon as the send has put the bytes in the socket.
                    read += pair.Client.Receive(received, read, expected.Length - read, SocketFlags.None);
                }

                queue.Close();
            });

            var written = await queue.Completion.WaitAsync(RawClient.Deadline);
            var rest = await pair.ReadToEndAsync();

            Assert.That(written, Is.True, $"round {round}");
            Assert.That(received, Is.EqualTo(expected), $"round {round}");
            Assert.That(rest, Is.Empty, $"round {round}");
        }
    }

    [Test]
    public async Task An_abort_while_frames_are_queued_and_written_ends_the_queue_cleanly()
    {
        // Abort comes from another thread than the hub's, while the hub queues and the flush writes:
        // the queue must end once, hold nobody back, and count nothing as buffered.
        using var metrics = NoMetrics();
        for (var round = 0; round < 50; round++)
        {
            await using var pair = await SocketPair.CreateAsync(receiveBufferSize: 4096);
            var gate = new BackpressureGate();
            using var aborted = new CancellationTokenSource();
            var queue = NewQueue(pair, metrics, gate: gate, softLimitBytes: 8 * 1024, aborted: aborted.Token);
            var producing = Task.Run(() =>
            {
                for (var i = 0; i < 2_000; i++)
                {
                    queue.Enqueue(Frame(i, 64));
                }
            });

            Thread.SpinWait(round * 997 % 20_000);
            queue.Abort();
            await aborted.CancelAsync();
            await producing.WaitAsync(RawClient.Deadline);
            var written = await queue.Completion.WaitAsync(RawClient.Deadline);

            Assert.Multiple(() =>
            {
                Assert.That(written, Is.False, $"round {round}");
                Assert.That(queue.BufferedBytes, Is.Zero, $"round {round}");
                Assert.That(gate.IsOpen, Is.True, $"round {round}: an aborted queue holds nobody back");
            });
        }
    }

    [Test]
    public async Task Above_the_soft_limit_the_gate_closes_and_it_opens_again_once_the_client_reads()
    {
        await using var pair = await SocketPair.CreateAsync(receiveBufferSize: 4096);
        using var metrics = NoMetrics();
        var gate = new BackpressureGate();
        var queue = NewQueue(pair, metrics, gate: gate, softLimitBytes: 64 * 1024);
        var frame = Frame(0, 1024);
        var total = 0;

        // Enqueue until the backlog stays above the soft limit (the kernel takes some at first).
        while (gate.IsOpen)
        {
            queue.Enqueue(frame);
            total += frame.Length;
            Assert.That(total, Is.LessThan(64 * 1024 * 1024), "the socket never filled up");
        }

        // Then well above it: the kernel may still take a few kilobytes of a backlog just past the
        // limit, which opened the gate again before the check below (a race, 2 runs in 12 on main).
        for (var i = 0; i < 1024; i++)
        {
            queue.Enqueue(frame);
            total += frame.Length;
        }

        var opened = gate.WaitAsync(CancellationToken.None);
        Assert.That(opened.IsCompleted, Is.False);
        await pair.ReadAsync(total);
        await opened.WaitAsync(RawClient.Deadline);

        // The peer can read the last bytes a moment before the writer books them as sent.
        Assert.That(() => queue.BufferedBytes, Is.Zero.After((int)RawClient.Deadline.TotalMilliseconds, 10));
    }

    [Test]
    public async Task A_ring_grown_for_a_burst_is_kept_while_used_and_let_go_after_an_idle_tick()
    {
        await using var pair = await SocketPair.CreateAsync(receiveBufferSize: 4096);
        using var metrics = NoMetrics();
        var queue = NewQueue(pair, metrics);
        var frame = Frame(0, 1024);

        // A burst the socket cannot take at once: frames wait in the ring, which grows.
        var total = 0;
        while (queue.BufferedBytes < 64 * 1024)
        {
            queue.Enqueue(frame);
            total += frame.Length;
            Assert.That(total, Is.LessThan(64 * 1024 * 1024), "the socket never filled up");
        }

        var grown = queue.HeldSlots;
        await pair.ReadAsync(total);
        var kept = queue.HeldSlots;

        Assert.Multiple(() =>
        {
            Assert.That(grown, Is.GreaterThan(16), "the burst grew the queue's segments");
            Assert.That(kept, Is.GreaterThan(16), "empty again, the grown segment is kept for the next burst");
        });

        // The first tick sees it used since the last one; the next finds it idle and lets it go
        // (or the one after, if the flush that wrote the last frame has not given the queue up yet).
        queue.ReleaseIdleMemory();
        Assert.That(queue.HeldSlots, Is.EqualTo(kept), "used since the last tick");
        Assert.That(() => { queue.ReleaseIdleMemory(); return queue.HeldSlots; }, Is.Zero.After((int)RawClient.Deadline.TotalMilliseconds, 10), "idle for a whole tick");

        // And the next frame still goes out.
        queue.Enqueue(frame);
        Assert.That(await pair.ReadAsync(frame.Length), Is.EqualTo(frame));
    }

    [Test]
    public async Task A_ring_that_never_grew_is_let_go_after_an_idle_tick_too()
    {
        await using var pair = await SocketPair.CreateAsync();
        using var metrics = NoMetrics();
        var queue = NewQueue(pair, metrics);
        var frame = Frame(1, 100);

        queue.Enqueue(frame);
        Assert.That(await pair.ReadAsync(frame.Length), Is.EqualTo(frame));
        var first = queue.HeldSlots;

        queue.ReleaseIdleMemory();
        var afterUse = queue.HeldSlots;

        Assert.Multiple(() =>
        {
            Assert.That(first, Is.InRange(1, 16), "a frame makes a small ring");
            Assert.That(afterUse, Is.EqualTo(first), "used since the last tick");
            Assert.That(() => { queue.ReleaseIdleMemory(); return queue.HeldSlots; }, Is.Zero.After((int)RawClient.Deadline.TotalMilliseconds, 10), "idle for a whole tick: an idle connection holds no ring");
        });

        queue.Enqueue(frame);
        Assert.That(await pair.ReadAsync(frame.Length), Is.EqualTo(frame));
    }

    [Test]
    public async Task Abort_drops_the_backlog_and_completes_without_writing_it()
    {
        await using var pair = await SocketPair.CreateAsync(receiveBufferSize: 4096);
        using var metrics = NoMetrics();
        var gate = new BackpressureGate();
        using var aborted = new CancellationTokenSource();
        var queue = NewQueue(pair, metrics, gate: gate, softLimitBytes: 1024, aborted: aborted.Token);
        var sawAbort = false;
        queue.Closing += abort => sawAbort = abort;
        for (var i = 0; i < 5_000; i++)
        {
            queue.Enqueue(Frame(i, 1024));
        }

        queue.Abort();
        await aborted.CancelAsync();
        var written = await queue.Completion.WaitAsync(RawClient.Deadline);
        queue.Enqueue(Frame(0, 10));

        Assert.Multiple(() =>
        {
            Assert.That(written, Is.False);
            Assert.That(sawAbort, Is.True);
            Assert.That(queue.BufferedBytes, Is.Zero, "the backlog is let go");
            Assert.That(gate.IsOpen, Is.True, "an aborted queue holds nobody back");
        });
    }

    // On a thread of its own: sends a frame, then waits (blocking) until the peer has all of it,
    // so the next frame is queued while the write that carried the last one is finishing.
    // Returns the rounds completed; throws when a frame never comes.
    private static async Task<int> PingPongAsync(SocketPair pair, Action send, int frameLength, int rounds)
    {
        pair.Client.ReceiveTimeout = (int)RawClient.Deadline.TotalMilliseconds;
        var buffer = new byte[frameLength];
        var done = 0;
        await Task.Run(() =>
        {
            for (; done < rounds; done++)
            {
                send();
                var read = 0;
                while (read < frameLength)
                {
                    // Blocking: back as soon as the send has put the bytes in the socket.
                    read += pair.Client.Receive(buffer, read, frameLength - read, SocketFlags.None);
                }
            }
        }).WaitAsync(RawClient.Deadline * 2);
        return done;
    }

    // What a connection's reader does with the frames a line makes: they wait for the end of the engine's batch.
    private static void EnqueueAsReader(OutboundQueue queue, byte[] frame)
    {
        SendScheduler.Defer(true);
        queue.Enqueue(frame);
        SendScheduler.Defer(false);
    }

    private static byte[] Frame(int number, int length)
    {
        var frame = new byte[length];
        Array.Fill(frame, (byte)('a' + (Math.Abs(number) % 26)));
        BitConverter.TryWriteBytes(frame, number);
        frame[^1] = (byte)'\n';
        return frame;
    }

    /// <summary>A connected loopback pair: the server side non-blocking as the broker makes it.</summary>
    // A queue over the pair's server end, with what most tests need: no soft limit, a gate and a scheduler of its own.
    private static OutboundQueue NewQueue(SocketPair pair, BrokerMetrics metrics, BackpressureGate? gate = null, long softLimitBytes = long.MaxValue, SendScheduler? scheduler = null, CancellationToken aborted = default) =>
        new(pair.Server, scheduler ?? new SendScheduler(), gate ?? new BackpressureGate(), softLimitBytes, metrics, aborted);

    private static BrokerMetrics NoMetrics() => new(() => 0, () => 0, () => 0, () => 0);

    private sealed class SocketPair : IAsyncDisposable
    {
        private SocketPair(Socket server, Socket client)
        {
            Server = server;
            Client = client;
        }

        public Socket Server { get; }

        public Socket Client { get; }

        public static async Task<SocketPair> CreateAsync(int? receiveBufferSize = null)
        {
            using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            listener.Listen(1);
            var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            if (receiveBufferSize is { } size)
            {
                client.ReceiveBufferSize = size;
            }

            using var timeout = new CancellationTokenSource(RawClient.Deadline);
            var accepting = listener.AcceptAsync(timeout.Token);
            await client.ConnectAsync(listener.LocalEndPoint!, timeout.Token);
            var server = await accepting;
            if (receiveBufferSize is { } small)
            {
                server.SendBufferSize = small;
            }

            server.Blocking = false;
            return new SocketPair(server, client);
        }

        public async Task<byte[]> ReadAsync(int length)
        {
            var buffer = new byte[length];
            var read = 0;
            using var timeout = new CancellationTokenSource(RawClient.Deadline);
            while (read < length)
            {
                var n = await Client.ReceiveAsync(buffer.AsMemory(read), SocketFlags.None, timeout.Token);
                Assert.That(n, Is.Positive, $"the connection ended after {read} of {length} bytes");
                read += n;
            }

            return buffer;
        }

        public async Task<byte[]> ReadToEndAsync()
        {
            var rest = new List<byte>();
            var buffer = new byte[4096];
            using var timeout = new CancellationTokenSource(RawClient.Deadline);
            int n;
            while ((n = await Client.ReceiveAsync(buffer, SocketFlags.None, timeout.Token)) > 0)
            {
                rest.AddRange(buffer.AsSpan(0, n));
            }

            return [.. rest];
        }

        public ValueTask DisposeAsync()
        {
            Server.Dispose();
            Client.Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
