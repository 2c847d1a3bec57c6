using LocalChatMesh.Cluster;
using System.Collections.Concurrent;
using LocalChatMesh.Cluster.Nats;
using static LocalChatMesh.Tests.Cluster.ClusterTesting;

namespace LocalChatMesh.Tests.Cluster;

/// <summary>nats-server restarted mid-stream: the engines report it lost and back, and the room stream goes on with no gap and no duplicate.</summary>
public sealed class NatsRestartTests
{
    [Test]
    public async Task Nats_restarted_mid_stream_is_reported_and_consumption_resumes_with_no_gap_and_no_duplicate()
    {
        await using var server = await NatsServerFixture.StartNewAsync();
        var options = Options(server);
        await using var publisher = await NatsClusterEngine.ConnectAsync(options);
        await using var reader = await NatsClusterEngine.ConnectAsync(options);
        var states = new ConcurrentQueue<ClusterConnectionState>();
        using var watch = reader.ConnectionStates.Subscribe(states.Enqueue);
        var reservation = await publisher.TryReserveNicknameAsync("ALICE", "alice", "s");

        const int Total = 300;
        var acknowledged = new ConcurrentQueue<long>();
        var unavailable = 0;
        var publishing = Task.Run(async () =>
        {
            for (var i = 0; i < Total; i++)
            {
                // A broker retries what NATS did not acknowledge with the same id: stored once either way.
                while (true)
                {
                    try
                    {
                        acknowledged.Enqueue(await publisher.AppendAsync(i % 3 == 0 ? "DEV" : "LOBBY", RoomEventKind.Chat, Bytes($"m{i}"), $"test:{i}"));
                        break;
                    }
                    catch (ClusterUnavailableException)
                    {
                        Interlocked.Increment(ref unavailable);
                    }
                }

                await Task.Delay(5);
            }
        });
        var reading = ReadAsync(reader, Total);

        Assert.That(await EventuallyAsync(() => Task.FromResult(acknowledged.Count >= Total / 3)), Is.True);
        await server.StopAsync();
        Assert.That(await EventuallyAsync(() => Task.FromResult(states.Contains(ClusterConnectionState.Disconnected))), Is.True, "NATS lost is reported");
        Assert.That(reader.IsConnected, Is.False);
        await server.StartAsync();
        Assert.That(await EventuallyAsync(() => Task.FromResult(reader.IsConnected)), Is.True, "NATS back is reported");

        await publishing;
        var received = await reading;

        Assert.That(states.ToArray(), Is.EqualTo(new[] { ClusterConnectionState.Connected, ClusterConnectionState.Disconnected, ClusterConnectionState.Connected }));
        Assert.That(received.Select(e => e.Sequence), Is.Ordered.Ascending.And.Unique);
        Assert.That(received.Select(e => e.Sequence), Is.EqualTo(acknowledged.Distinct().Order()));
        Assert.That(received.Select(Text), Is.EqualTo(Enumerable.Range(0, Total).Select(i => $"m{i}")), "every event once, in order, across the restart");
        Assert.That(await reader.FindNicknameAsync("ALICE"), Is.EqualTo(reservation), "reservations are on file and survive the restart");
        Assert.That((await reader.ReadLastChatsAsync("DEV", 1000)).Count, Is.EqualTo(Total / 3));
        TestContext.Out.WriteLine($"appends refused while NATS was down: {unavailable}");
    }

    [Test]
    public async Task Brokers_reconnected_after_a_restart_do_not_reap_each_other()
    {
        await using var server = await NatsServerFixture.StartNewAsync();
        var options = Options(server);
        await using var holder = await NatsClusterEngine.ConnectAsync(options);
        await using var reaper = await NatsClusterEngine.ConnectAsync(options);
        var reaped = new ConcurrentQueue<string>();
        reaper.StartReaping((reservation, _) =>
        {
            reaped.Enqueue(reservation.NicknameKey);
            return Task.CompletedTask;
        });
        Assert.That(await holder.TryReserveNicknameAsync("ALICE", "alice", "s"), Is.Not.Null);

        // Down longer than the heartbeat timeout: every heartbeat (memory storage) is gone when it is back.
        await server.StopAsync();
        await Task.Delay(options.HeartbeatTimeout * 2);
        await server.StartAsync();
        Assert.That(await EventuallyAsync(() => Task.FromResult(holder.IsConnected && reaper.IsConnected)), Is.True);
        await Task.Delay(options.HeartbeatTimeout * 3);

        Assert.That(reaped, Is.Empty);
        Assert.That((await reaper.FindNicknameAsync("ALICE"))?.BrokerId, Is.EqualTo(holder.BrokerId));
    }
}
