using LocalChatMesh.Cluster;
using System.Collections.Concurrent;
using LocalChatMesh.Cluster.Nats;
using static LocalChatMesh.Tests.Cluster.ClusterTesting;

namespace LocalChatMesh.Tests.Cluster;

/// <summary>Nickname reservations across brokers: the race, release, takeover by session, and a dead broker reaped.</summary>
public sealed class NicknameReservationTests : NatsServerTests
{
    [Test]
    public async Task Two_brokers_reserving_one_nickname_at_the_same_moment_exactly_one_wins_50_rounds()
    {
        await using var first = await NatsClusterEngine.ConnectAsync(Options(Server));
        await using var second = await NatsClusterEngine.ConnectAsync(first.Options);
        var winners = new List<string>();
        for (var round = 0; round < 50; round++)
        {
            var key = round % 2 == 0 ? "ALICE" : $"BOB{round}";
            using var go = new ManualResetEventSlim();
            var attempts = new[] { first, second }.Select(engine => Task.Run(async () =>
            {
                go.Wait();
                return await engine.TryReserveNicknameAsync(key, key.ToLowerInvariant(), $"secret-{engine.BrokerId}");
            })).ToArray();
            go.Set();
            var results = await Task.WhenAll(attempts);

            var won = results.Where(result => result is not null).ToList();
            Assert.That(won, Has.Count.EqualTo(1), $"round {round}");
            winners.Add(won[0]!.BrokerId);
            Assert.That((await first.FindNicknameAsync(key))?.BrokerId, Is.EqualTo(won[0]!.BrokerId));

            // Released, the nickname (a deleted key now) can be won again next round.
            Assert.That(await (won[0]!.BrokerId == first.BrokerId ? first : second).ReleaseNicknameAsync(won[0]!), Is.True);
        }

        Assert.That(winners, Has.Count.EqualTo(50));
    }

    [Test]
    public async Task A_released_nickname_is_free_and_a_stale_release_changes_nothing()
    {
        await using var engine = await NatsClusterEngine.ConnectAsync(Options(Server));
        var held = await engine.TryReserveNicknameAsync("CAROL", "Carol", "s1");
        Assert.That(held, Is.Not.Null);
        Assert.That(await engine.TryReserveNicknameAsync("CAROL", "carol", "s2"), Is.Null);

        Assert.That(await engine.ReleaseNicknameAsync(held!), Is.True);
        var again = await engine.TryReserveNicknameAsync("CAROL", "carol", "s2");

        Assert.That(again, Is.Not.Null);
        Assert.That(await engine.ReleaseNicknameAsync(held!), Is.False, "the old revision is not the one held now");
        Assert.That((await engine.FindNicknameAsync("CAROL"))?.Nickname, Is.EqualTo("carol"));
    }

    [Test]
    public async Task A_session_takes_its_nickname_over_from_another_broker_which_is_told()
    {
        await using var old = await NatsClusterEngine.ConnectAsync(Options(Server));
        await using var next = await NatsClusterEngine.ConnectAsync(old.Options);
        var lost = new ConcurrentQueue<NicknameReservation>();
        using var subscription = old.ReservationsLost.Subscribe(lost.Enqueue);
        var held = await old.TryReserveNicknameAsync("ＡＬＩＣＥ", "alice", "the-secret");

        Assert.That(await next.TryTakeOverNicknameAsync("ＡＬＩＣＥ", "alice", "wrong-secret"), Is.Null);
        Assert.That(await next.TryTakeOverNicknameAsync("NOBODY", "nobody", "the-secret"), Is.Null);
        var takeover = await next.TryTakeOverNicknameAsync("ＡＬＩＣＥ", "Alice", "the-secret");

        Assert.That(takeover, Is.Not.Null);
        Assert.That(takeover!.Replaced, Is.EqualTo(held));
        Assert.That(takeover.Reservation.BrokerId, Is.EqualTo(next.BrokerId));
        Assert.That((await old.FindNicknameAsync("ＡＬＩＣＥ"))?.BrokerId, Is.EqualTo(next.BrokerId));
        Assert.That(await EventuallyAsync(() => Task.FromResult(!lost.IsEmpty)), Is.True, "the old broker learns it lost the nickname");
        Assert.That(lost.Single(), Is.EqualTo(held));
        Assert.That(await old.ReleaseNicknameAsync(held!), Is.False, "the old broker's late release leaves the new holder alone");
        Assert.That(await next.TryTakeOverNicknameAsync("ＡＬＩＣＥ", "Alice", "the-secret"), Is.Not.Null, "the same secret serves the next reconnect too");
    }

    [Test]
    public async Task A_dead_brokers_nicknames_are_freed_well_within_10_seconds_and_each_left_is_announced_once()
    {
        var options = Options(Server);
        await using var survivorA = await NatsClusterEngine.ConnectAsync(options);
        await using var survivorB = await NatsClusterEngine.ConnectAsync(options);
        var dead = await NatsClusterEngine.ConnectAsync(options);
        string[] nicknames = ["DAVE", "ERIN", "FRANK"];
        foreach (var nickname in nicknames)
        {
            Assert.That(await dead.TryReserveNicknameAsync(nickname, nickname.ToLowerInvariant(), "s"), Is.Not.Null);
        }

        var kept = await survivorA.TryReserveNicknameAsync("GRACE", "grace", "s");
        var announced = new ConcurrentBag<string>();
        foreach (var survivor in new[] { survivorA, survivorB })
        {
            survivor.StartReaping(async (reservation, cancellationToken) =>
            {
                announced.Add(reservation.NicknameKey);
                await survivor.AppendAsync("LOBBY", RoomEventKind.Presence, Bytes($"{reservation.Nickname} left"), $"{reservation.ReleaseId}:LOBBY", cancellationToken);
            });
        }

        // Nicknames of a live broker are not reaped: wait a few heartbeat timeouts first.
        await Task.Delay(options.HeartbeatTimeout * 3);
        Assert.That(announced, Is.Empty);
        Assert.That(await survivorB.FindNicknameAsync("DAVE"), Is.Not.Null);

        await dead.AbandonAsync();
        var sinceDeath = System.Diagnostics.Stopwatch.StartNew();
        var freed = await EventuallyAsync(
            async () => (await Task.WhenAll(nicknames.Select(nickname => survivorB.FindNicknameAsync(nickname)))).All(reservation => reservation is null),
            within: TimeSpan.FromSeconds(10));

        Assert.That(freed, Is.True, "reaped within 10 s");
        TestContext.Out.WriteLine($"freed {sinceDeath.Elapsed.TotalSeconds:0.0} s after the broker died (heartbeat timeout {options.HeartbeatTimeout.TotalSeconds} s)");
        Assert.That(await survivorB.TryReserveNicknameAsync("DAVE", "dave", "new"), Is.Not.Null);
        Assert.That(announced.Distinct(), Is.EquivalentTo(nicknames));
        var lefts = await ReadAsync(survivorA, nicknames.Length);
        Assert.That(lefts.Select(Text), Is.EquivalentTo(nicknames.Select(n => $"{n.ToLowerInvariant()} left")), "one user_left each, however many reapers announced it");
        Assert.That(await survivorA.FindNicknameAsync("GRACE"), Is.EqualTo(kept));
    }

    [Test]
    public async Task A_broker_whose_heartbeat_lapsed_learns_that_its_nicknames_were_reaped()
    {
        var options = Options(Server);
        await using var cutOff = await NatsClusterEngine.ConnectAsync(options);
        await using var reaper = await NatsClusterEngine.ConnectAsync(options);
        var lost = new ConcurrentQueue<NicknameReservation>();
        using var subscription = cutOff.ReservationsLost.Subscribe(lost.Enqueue);
        var held = await cutOff.TryReserveNicknameAsync("HEIDI", "heidi", "s");
        reaper.StartReaping((_, _) => Task.CompletedTask);

        cutOff.SuspendHeartbeats();

        Assert.That(await EventuallyAsync(() => Task.FromResult(!lost.IsEmpty)), Is.True);
        Assert.That(lost.Single(), Is.EqualTo(held));
        Assert.That(await reaper.FindNicknameAsync("HEIDI"), Is.Null);
    }

    [Test]
    public async Task Reaping_starts_once()
    {
        await using var engine = await NatsClusterEngine.ConnectAsync(Options(Server));
        engine.StartReaping((_, _) => Task.CompletedTask);

        Assert.That(() => engine.StartReaping((_, _) => Task.CompletedTask), Throws.InvalidOperationException);
    }
}
