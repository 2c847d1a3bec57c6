using LocalChatMesh.Cluster;
using System.Buffers.Binary;
using System.Diagnostics;
using LocalChatMesh.Cluster.Nats;
using static LocalChatMesh.Tests.Cluster.ClusterTesting;

namespace LocalChatMesh.Tests.Cluster;

/// <summary>
/// Figures for BENCHMARKS.md ("Cluster engine"): room events through JetStream between two engines on
/// this box. Explicit: run by name; it prints, it does not assert on time.
/// </summary>
[Explicit("a measurement: prints figures, asserts nothing about time")]
public sealed class ClusterEngineMeasurements
{
    [Test]
    public async Task Publish_to_consume_latency_and_throughput()
    {
        await using var server = await NatsServerFixture.StartNewAsync();
        var options = Options(server) with { History = new LocalChatMesh.Storage.ChatStoreRetention(1000, TimeSpan.FromHours(1)) };
        await using var publisher = await NatsClusterEngine.ConnectAsync(options);
        await using var reader = await NatsClusterEngine.ConnectAsync(options);
        string[] rooms = ["LOBBY", "DEV", "OPS", "RANDOM"];
        var payload = new byte[120];

        // Warm-up, then paced appends at 200/s: latency from before AppendAsync to the other engine's consumer.
        await Measure(20, 200);
        var (ack, delivered) = await Measure(2000, 200);
        TestContext.Out.WriteLine($"paced 2000 @200/s, 120-byte events, 4 rooms: append ack p50 {P(ack, 50):0.00} ms p99 {P(ack, 99):0.00} ms; publish-to-consume p50 {P(delivered, 50):0.00} ms p99 {P(delivered, 99):0.00} ms");

        // Throughput: 20,000 appends with up to 64 in flight, timed until the other engine consumed them all.
        foreach (var inFlight in new[] { 1, 64 })
        {
            var total = inFlight == 1 ? 5_000 : 20_000;
            var after = (await ReadTail()).Sequence;
            var clock = Stopwatch.StartNew();
            var cpu = Process.GetCurrentProcess().TotalProcessorTime;
            var serverCpu = server.ProcessorTime;
            var reading = ReadAsync(reader, total, after);
            using var gate = new SemaphoreSlim(inFlight);
            var appends = Enumerable.Range(0, total).Select(async i =>
            {
                await gate.WaitAsync();
                try
                {
                    await publisher.AppendAsync(rooms[i % rooms.Length], RoomEventKind.Chat, payload);
                }
                finally
                {
                    gate.Release();
                }
            }).ToArray();
            await Task.WhenAll(appends);
            var appended = clock.Elapsed;
            var received = await reading;
            var consumed = clock.Elapsed;
            var used = Process.GetCurrentProcess().TotalProcessorTime - cpu;
            var serverUsed = server.ProcessorTime - serverCpu;
            TestContext.Out.WriteLine($"burst {total} with {inFlight} in flight: appended in {appended.TotalSeconds:0.00} s ({total / appended.TotalSeconds:0} events/s), consumed all {received.Count} in {consumed.TotalSeconds:0.00} s ({total / consumed.TotalSeconds:0} events/s); CPU per event: {used.TotalMilliseconds / total * 1000:0} µs in the test process (both engines), {serverUsed.TotalMilliseconds / total * 1000:0} µs in nats-server");
        }

        async Task<ClusterRoomEvent> ReadTail()
        {
            var marker = await publisher.AppendAsync("MARKER", RoomEventKind.Presence, payload);
            return (await ReadAsync(reader, 1, marker - 1))[0];
        }

        async Task<(List<double> Ack, List<double> Delivered)> Measure(int count, int perSecond)
        {
            var acks = new List<double>(count);
            var deliveries = new List<double>(count);
            using var stop = new CancellationTokenSource(Deadline);
            var tail = await ReadTail();
            var consumer = Task.Run(async () =>
            {
                await foreach (var roomEvent in reader.ReadAllAsync(tail.Sequence, stop.Token))
                {
                    var sent = BinaryPrimitives.ReadInt64LittleEndian(roomEvent.Payload.Span);
                    deliveries.Add(Stopwatch.GetElapsedTime(sent).TotalMilliseconds);
                    if (deliveries.Count == count)
                    {
                        return;
                    }
                }
            });
            var pace = Stopwatch.StartNew();
            for (var i = 0; i < count; i++)
            {
                var due = TimeSpan.FromSeconds((double)i / perSecond) - pace.Elapsed;
                if (due > TimeSpan.Zero)
                {
                    await Task.Delay(due);
                }

                var body = new byte[120];
                var sent = Stopwatch.GetTimestamp();
                BinaryPrimitives.WriteInt64LittleEndian(body, sent);
                await publisher.AppendAsync(rooms[i % rooms.Length], RoomEventKind.Chat, body);
                acks.Add(Stopwatch.GetElapsedTime(sent).TotalMilliseconds);
            }

            await consumer;
            return (acks, deliveries);
        }
    }

    private static double P(List<double> values, int percentile)
    {
        var sorted = values.Order().ToList();
        return sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(percentile / 100.0 * sorted.Count) - 1)];
    }
}
