using LocalChatMesh.Cluster;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Reactive.Linq;
using System.Reactive.Subjects;
using System.Text;
using LocalChatMesh.Cluster.Nats.Internal;
using NATS.Client.Core;
using NATS.Client.KeyValueStore;

namespace LocalChatMesh.Cluster.Nats;

/// <summary>
/// Nicknames across the cluster. A reservation is a key in the nickname bucket, created only if absent
/// (JetStream's expected-last-sequence check makes two simultaneous creates race-free: one wins). Its
/// value names the broker and a hash of the session secret. Per-key TTLs need nats-server 2.11, so a
/// dead broker is found through heartbeats instead: each broker renews its key in a bucket whose MaxAge
/// is <see cref="NatsClusterOptions.HeartbeatTimeout"/>, and a reservation whose broker's heartbeat has
/// expired is reaped by the others (announce <c>user_left</c>, then delete at the revision read).
/// </summary>
public sealed partial class NatsClusterEngine
{
    private readonly ConcurrentDictionary<string, NicknameReservation> _owned = new(StringComparer.Ordinal);
    private readonly Subject<NicknameReservation> _lost = new();
    private readonly SemaphoreSlim _heartbeatNow = new(0);
    private Func<NicknameReservation, CancellationToken, Task>? _reapHandler;
    private volatile bool _heartbeatSuspended;

    /// <summary>
    /// Reservations this broker held and no longer does: taken over by a session on another broker, or
    /// reaped by the others while this broker was cut off from NATS longer than the heartbeat timeout.
    /// The broker closes that connection (<c>connection replaced</c>). Observers run on the engine's threads.
    /// </summary>
    public IObservable<NicknameReservation> ReservationsLost => _lost.AsObservable();

    /// <summary>Reserves a nickname for a new session on this broker; null when somebody holds it anywhere in the cluster.</summary>
    /// <param name="nicknameKey">The nickname's key (how the hub compares nicknames).</param>
    /// <param name="nickname">The nickname as spelled.</param>
    /// <param name="sessionSecret">The session's secret: who presents it later may take the nickname over.</param>
    /// <param name="cancellationToken">Stops waiting; the reservation may still be made.</param>
    /// <exception cref="ClusterUnavailableException">NATS cannot be reached: nobody can say whether the nickname is free.</exception>
    public async Task<NicknameReservation?> TryReserveNicknameAsync(string nicknameKey, string nickname, string sessionSecret, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(nicknameKey);
        ArgumentNullException.ThrowIfNull(nickname);
        ArgumentNullException.ThrowIfNull(sessionSecret);
        var hash = ReservationValue.HashSecret(sessionSecret);
        var value = ReservationValue.Encode(nickname, BrokerId, hash);
        NatsResult<ulong> result;

        // Over a released nickname's tombstone, a create is an update at the tombstone's revision: losing
        // that race reports a wrong revision, not "exists". Try again, and the create then sees the winner.
        var tries = 0;
        do
        {
            result = await Kv(token => _nicknames.TryCreateAsync(ClusterNames.NicknameKey(nicknameKey), value, cancellationToken: token), cancellationToken).ConfigureAwait(false);
        }
        while (!result.Success && result.Error is NatsKVWrongLastRevisionException && ++tries < 5);

        if (!result.Success)
        {
            return result.Error is NatsKVCreateException or NatsKVWrongLastRevisionException ? null : throw Unavailable("cluster unavailable: the nickname could not be reserved", result.Error);
        }

        var reservation = new NicknameReservation(nicknameKey, nickname, BrokerId, result.Value) { SecretHash = hash };
        _owned[nicknameKey] = reservation;
        return reservation;
    }

    /// <summary>
    /// Takes a nickname over with its session secret, from whichever broker holds it (a client coming
    /// back before its old connection was noticed dead, or from a dead broker). Null when nobody holds
    /// it, the secret does not match, or another takeover won the race. The broker that held it learns
    /// through <see cref="ReservationsLost"/>.
    /// </summary>
    /// <exception cref="ClusterUnavailableException">NATS cannot be reached.</exception>
    public async Task<NicknameTakeover?> TryTakeOverNicknameAsync(string nicknameKey, string nickname, string sessionSecret, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(nicknameKey);
        ArgumentNullException.ThrowIfNull(nickname);
        ArgumentNullException.ThrowIfNull(sessionSecret);
        var held = await FindNicknameAsync(nicknameKey, cancellationToken).ConfigureAwait(false);
        if (held is null || !ReservationValue.SecretMatches(sessionSecret, held.SecretHash))
        {
            return null;
        }

        // Compare-and-set on the revision read: if the holder released it or somebody else took it over meanwhile, this fails.
        var result = await Kv(token => _nicknames.TryUpdateAsync(ClusterNames.NicknameKey(nicknameKey), ReservationValue.Encode(nickname, BrokerId, held.SecretHash), held.Revision, cancellationToken: token), cancellationToken).ConfigureAwait(false);
        if (!result.Success)
        {
            return result.Error is NatsKVWrongLastRevisionException ? null : throw Unavailable("cluster unavailable: the nickname could not be taken over", result.Error);
        }

        var reservation = new NicknameReservation(nicknameKey, nickname, BrokerId, result.Value) { SecretHash = held.SecretHash };
        _owned[nicknameKey] = reservation;
        if (held.BrokerId != BrokerId)
        {
            // Tell the old broker now; its own check every ReaperInterval is the backstop if this is lost.
            try
            {
                await _connection.PublishAsync(_names.ReplacedSubject(held.BrokerId), Encoding.UTF8.GetBytes(nicknameKey), cancellationToken: cancellationToken).ConfigureAwait(false);
            }
            catch (Exception exception) when (IsTransient(exception) && !cancellationToken.IsCancellationRequested)
            {
                Log.ReaperFailed(_logger, exception);
            }
        }

        return new NicknameTakeover(reservation, held);
    }

    /// <summary>
    /// Releases a reservation (its client left). Only the revision given is deleted, so a reservation
    /// taken over meanwhile stays with its new holder: false then, and false when it is gone already.
    /// </summary>
    /// <exception cref="ClusterUnavailableException">NATS cannot be reached (the reservation is reaped once it can).</exception>
    public async Task<bool> ReleaseNicknameAsync(NicknameReservation reservation, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(reservation);
        _owned.TryRemove(new KeyValuePair<string, NicknameReservation>(reservation.NicknameKey, reservation));
        var result = await Kv(token => _nicknames.TryDeleteAsync(ClusterNames.NicknameKey(reservation.NicknameKey), new NatsKVDeleteOpts { Revision = reservation.Revision }, token), cancellationToken).ConfigureAwait(false);
        return result.Success || (result.Error is not NatsKVWrongLastRevisionException and not NatsKVKeyNotFoundException and not NatsKVKeyDeletedException
            ? throw Unavailable("cluster unavailable: the nickname could not be released", result.Error)
            : false);
    }

    /// <summary>Who holds a nickname in the cluster, or null (for direct messages: which broker to send to).</summary>
    /// <exception cref="ClusterUnavailableException">NATS cannot be reached.</exception>
    public async Task<NicknameReservation?> FindNicknameAsync(string nicknameKey, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(nicknameKey);
        var result = await Kv(token => _nicknames.TryGetEntryAsync<byte[]>(ClusterNames.NicknameKey(nicknameKey), cancellationToken: token), cancellationToken).ConfigureAwait(false);
        if (!result.Success)
        {
            return result.Error is NatsKVKeyNotFoundException or NatsKVKeyDeletedException ? null : throw Unavailable("cluster unavailable: the nickname could not be looked up", result.Error);
        }

        var entry = result.Value;
        return entry.Operation == NatsKVOperation.Put && entry.Value is { } value ? ReservationValue.Decode(nicknameKey, value, entry.Revision) : null;
    }

    /// <summary>
    /// Makes this broker one of the reapers: every <see cref="NatsClusterOptions.ReaperInterval"/> it looks
    /// for reservations whose broker's heartbeat has expired, calls <paramref name="announceLeft"/> for each
    /// (append its <c>user_left</c> events with <see cref="NicknameReservation.ReleaseId"/> as deduplication
    /// id: several brokers may announce the same one, and JetStream keeps one), then deletes it at the
    /// revision read. A reservation whose announcement throws is left for the next round. A broker reaps
    /// only after it has been connected for a whole heartbeat timeout, so after a NATS restart every live
    /// broker has renewed its heartbeat before anybody judges it dead.
    /// </summary>
    /// <exception cref="InvalidOperationException">Reaping was started already.</exception>
    public void StartReaping(Func<NicknameReservation, CancellationToken, Task> announceLeft)
    {
        ArgumentNullException.ThrowIfNull(announceLeft);
        if (Interlocked.CompareExchange(ref _reapHandler, announceLeft, null) is not null)
        {
            throw new InvalidOperationException("Reaping was started already.");
        }
    }

    // One bucket operation bounded by the request timeout; a timeout comes back as a failed result.
    private async Task<NatsResult<T>> Kv<T>(Func<CancellationToken, ValueTask<NatsResult<T>>> operation, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(_options.RequestTimeout);
        try
        {
            return await operation(deadline.Token).ConfigureAwait(false);
        }
        catch (Exception exception) when (IsTransient(exception) && !cancellationToken.IsCancellationRequested)
        {
            throw Unavailable("cluster unavailable", exception);
        }
    }

    private async Task<NatsResult> Kv(Func<CancellationToken, ValueTask<NatsResult>> operation, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(_options.RequestTimeout);
        try
        {
            return await operation(deadline.Token).ConfigureAwait(false);
        }
        catch (Exception exception) when (IsTransient(exception) && !cancellationToken.IsCancellationRequested)
        {
            throw Unavailable("cluster unavailable", exception);
        }
    }

    /// <summary>Stops renewing the heartbeat while staying connected: what the others see of a broker cut off from them (tests).</summary>
    internal void SuspendHeartbeats() => _heartbeatSuspended = true;

    private async Task RenewHeartbeatAsync(CancellationToken cancellationToken)
    {
        if (_heartbeatSuspended)
        {
            return;
        }

        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(_options.RequestTimeout);
        await _brokers.PutAsync(BrokerId, Encoding.UTF8.GetBytes(_options.BrokerName), cancellationToken: deadline.Token).ConfigureAwait(false);
    }

    private async Task HeartbeatLoopAsync(CancellationToken stopping)
    {
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                // Renewed every interval, and at once when NATS comes back.
                await _heartbeatNow.WaitAsync(_options.HeartbeatInterval, stopping).ConfigureAwait(false);
                await RenewHeartbeatAsync(stopping).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
            catch (Exception exception) when (exception is not OutOfMemoryException)
            {
                Log.HeartbeatFailed(_logger, exception);
            }
        }
    }

    private async Task ReaperLoopAsync(CancellationToken stopping)
    {
        using var timer = new PeriodicTimer(_options.ReaperInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(stopping).ConfigureAwait(false))
            {
                if (!IsConnected)
                {
                    continue;
                }

                try
                {
                    await CheckOwnReservationsAsync(stopping).ConfigureAwait(false);
                    if (_reapHandler is { } announce && Stopwatch.GetElapsedTime(Interlocked.Read(ref _connectedSince)) >= _options.HeartbeatTimeout)
                    {
                        await ReapAsync(announce, stopping).ConfigureAwait(false);
                    }
                }
                catch (Exception exception) when (exception is not OutOfMemoryException)
                {
                    if (stopping.IsCancellationRequested)
                    {
                        // A round cut short by the stop fails with whatever the client throws for
                        // the request in flight (seen: "stream not found" just after NATS restarted).
                        return;
                    }

                    Log.ReaperFailed(_logger, exception);
                }
            }
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
        }
    }

    private async Task ReapAsync(Func<NicknameReservation, CancellationToken, Task> announce, CancellationToken stopping)
    {
        var alive = new HashSet<string>(StringComparer.Ordinal);
        await foreach (var broker in _brokers.GetKeysAsync(cancellationToken: stopping).ConfigureAwait(false))
        {
            alive.Add(broker);
        }

        if (!alive.Contains(BrokerId))
        {
            // Our own heartbeat expired: we were cut off, and may be the one that is out of date. Renew first.
            _heartbeatNow.Release();
            return;
        }

        var keys = new List<string>();
        await foreach (var key in _nicknames.GetKeysAsync(cancellationToken: stopping).ConfigureAwait(false))
        {
            keys.Add(key);
        }

        foreach (var key in keys)
        {
            if (!ClusterNames.TryParseNicknameKey(key, out var nicknameKey)
                || await FindNicknameAsync(nicknameKey, stopping).ConfigureAwait(false) is not { } reservation
                || reservation.BrokerId == BrokerId
                || alive.Contains(reservation.BrokerId))
            {
                continue;
            }

            await announce(reservation, stopping).ConfigureAwait(false);
            var deleted = await _nicknames.TryDeleteAsync(key, new NatsKVDeleteOpts { Revision = reservation.Revision }, stopping).ConfigureAwait(false);
            if (deleted.Success)
            {
                Log.Reaped(_logger, reservation.Nickname, reservation.BrokerId);
            }
        }
    }

    private async Task CheckOwnReservationsAsync(CancellationToken stopping)
    {
        foreach (var (nicknameKey, owned) in _owned.ToArray())
        {
            await CheckOwnReservationAsync(nicknameKey, owned, stopping).ConfigureAwait(false);
        }
    }

    private async Task CheckOwnReservationAsync(string nicknameKey, NicknameReservation owned, CancellationToken stopping)
    {
        var current = await FindNicknameAsync(nicknameKey, stopping).ConfigureAwait(false);
        if (current is not null && current.BrokerId == BrokerId)
        {
            return;
        }

        // Only if it is still the one we held: a release or a new reservation meanwhile is not a loss.
        if (_owned.TryRemove(new KeyValuePair<string, NicknameReservation>(nicknameKey, owned)))
        {
            Log.ReservationLost(_logger, owned.Nickname);
            lock (_stateGate)
            {
                if (!_lost.IsDisposed)
                {
                    _lost.OnNext(owned);
                }
            }
        }
    }

    private async Task ServeReplacedAsync(CancellationToken stopping)
    {
        try
        {
            await foreach (var notice in _connection.SubscribeAsync<byte[]>(_names.ReplacedSubject(BrokerId), cancellationToken: stopping).ConfigureAwait(false))
            {
                var nicknameKey = Encoding.UTF8.GetString(notice.Data ?? []);
                if (_owned.TryGetValue(nicknameKey, out var owned))
                {
                    try
                    {
                        await CheckOwnReservationAsync(nicknameKey, owned, stopping).ConfigureAwait(false);
                    }
                    catch (ClusterUnavailableException exception)
                    {
                        Log.ReaperFailed(_logger, exception);
                    }
                }
            }
        }
        catch (Exception exception) when (stopping.IsCancellationRequested && exception is not OutOfMemoryException)
        {
            // Stopping: a request in flight may fail with anything the client throws, not only a
            // cancellation, and the engine's dispose must not (it waits for this loop).
        }
    }
}
