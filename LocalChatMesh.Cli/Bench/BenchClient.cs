using System.Buffers;
using System.Diagnostics;
using System.Net.Sockets;

namespace LocalChatMesh.Cli.Bench;

/// <summary>
/// One bench connection: a raw socket, one receive loop over a pooled buffer that splits lines
/// and looks only for what the bench counts (span searches, no JSON parsing), and, for a
/// sender, a send loop that stamps a pre-encoded line in place.
/// </summary>
internal sealed class BenchClient : IDisposable
{
    private const int ReceiveBufferSize = 32 * 1024;

    private static readonly double MicrosecondsPerTick = 1_000_000.0 / Stopwatch.Frequency;

    private readonly Socket _socket;
    private readonly BenchProgress _progress;
    private readonly int _index;
    private readonly int _messages;
    private readonly long _expected;
    private readonly int _expectedOthers;

    // Protocol v2 only: the capability the welcome must grant, this client's room field as a
    // delivery carries it, and whether each delivery's sender is checked against the workload.
    private readonly byte[]? _capability;
    private readonly byte[]? _roomField;
    private readonly bool _checkRouting;
    private readonly TaskCompletionSource _welcomed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    // Per sender: the highest sequence number seen, and a bit per message seen (for duplicates).
    private readonly int[] _highest;
    private readonly ulong[] _seen;
    private bool _welcome;
    private bool _inRoom;
    private bool _joinSignalled;
    private int _others;
    private long _received;
    private long _unique;
    private long _lastDelivery;
    private long _sent;
    private volatile bool _pacing;

    /// <param name="socket">Connected, its hello sent.</param>
    /// <param name="nickname">As sent in the hello.</param>
    /// <param name="progress">The workload and where to report.</param>
    /// <param name="index">Which client of the workload this is (its room, its peer, what it must receive).</param>
    public BenchClient(Socket socket, string nickname, BenchProgress progress, int index = 0)
    {
        _socket = socket;
        Nickname = nickname;
        _progress = progress;
        _index = index;
        _messages = progress.Messages;
        _expected = progress.ExpectedFor(index);
        _expectedOthers = progress.ExpectedOthers(index);
        _highest = new int[progress.Senders];
        Array.Fill(_highest, -1);
        _seen = new ulong[((progress.Senders * (long)progress.Messages) + 63) / 64];
        if (progress.Rooms > 1)
        {
            _capability = "\"rooms\""u8.ToArray();
            _roomField = System.Text.Encoding.UTF8.GetBytes($"\"room\":\"{BenchProgress.RoomName(progress.RoomOf(index))}\"");
            _checkRouting = true;
        }
        else if (progress.Direct)
        {
            _capability = "\"direct\""u8.ToArray();
            _checkRouting = true;
        }

        progress.Register(this);
    }

    public string Nickname { get; }

    /// <summary>Messages this client has sent so far (a sender only).</summary>
    public long Sent => Volatile.Read(ref _sent);

    /// <summary>True while this sender waits for its schedule (paced): waiting, not stuck.</summary>
    public bool Pacing => _pacing;

    /// <summary>Deliveries from a sender this client should not hear, or for another room (v2 only).</summary>
    public long Misrouted { get; private set; }

    /// <summary>Completes when the server's <c>welcome</c> arrives.</summary>
    public Task Welcomed => _welcomed.Task;

    public long Received => Volatile.Read(ref _received);

    public long Unique => Volatile.Read(ref _unique);

    public long Duplicated { get; private set; }

    public long OutOfOrder { get; private set; }

    /// <summary>
    /// Messages missing so far: behind the newest one seen from their sender, yet not seen (lost,
    /// or still to come out of order). Safe to read while receiving; it may lag behind, never run ahead.
    /// </summary>
    public long Missing
    {
        get
        {
            // The receive loop counts a message in _unique before it publishes it in _highest, and
            // here _highest is read first: every message behind a sequence number read here is
            // already in the count read after it.
            long behind = 0;
            for (var sender = 0; sender < _highest.Length; sender++)
            {
                behind += Volatile.Read(ref _highest[sender]) + 1L;
            }

            return Math.Max(0, behind - Volatile.Read(ref _unique));
        }
    }

    /// <summary>Chat lines from the soak's short-lived clients (<see cref="BenchPayload.ChurnSender"/>).</summary>
    public long Churn { get; private set; }

    /// <summary>Chat lines that did not carry a bench header (or named an unknown sender).</summary>
    public long Foreign { get; private set; }

    public long Errors { get; private set; }

    public string? FirstError { get; private set; }

    /// <summary>Stopwatch timestamp of the last bench delivery.</summary>
    public long LastDelivery => Volatile.Read(ref _lastDelivery);

    public LatencyHistogram Latency { get; } = new();

    public Task Receiving { get; private set; } = Task.CompletedTask;

    public void StartReceiving() => Receiving = Task.Run(ReceiveLoopAsync);

    public async Task SendLineAsync(ReadOnlyMemory<byte> line, CancellationToken cancellationToken)
    {
        while (!line.IsEmpty)
        {
            var sent = await _socket.SendAsync(line, SocketFlags.None, cancellationToken).ConfigureAwait(false);
            line = line[sent..];
        }
    }

    /// <summary>
    /// Sends this client's share of the load: unpaced, or at <paramref name="rate"/> per second on
    /// a schedule fixed at <paramref name="start"/> (a late sender catches up; each message is
    /// stamped when it is actually sent).
    /// </summary>
    public async Task SendAsync(int sender, int size, double? rate, long start, CancellationToken cancellationToken)
    {
        var line = CreateLine(sender, size);
        var textOffset = BenchPayload.TextOffsetOf(line);
        var interval = rate is { } perSecond ? Stopwatch.Frequency / perSecond : 0;
        for (var sequence = 0; sequence < _messages;)
        {
            if (rate is not null)
            {
                var due = start + (long)(sequence * interval);
                var now = Stopwatch.GetTimestamp();
                if (due > now)
                {
                    var milliseconds = Math.Ceiling((due - now) * 1000.0 / Stopwatch.Frequency);
                    _pacing = true;
                    try
                    {
                        await Task.Delay(TimeSpan.FromMilliseconds(milliseconds), cancellationToken).ConfigureAwait(false);
                    }
                    finally
                    {
                        _pacing = false;
                    }

                    continue;
                }
            }

            BenchPayload.Stamp(line, textOffset, sequence, Stopwatch.GetTimestamp());
            await SendLineAsync(line, cancellationToken).ConfigureAwait(false);
            sequence++;
            Volatile.Write(ref _sent, sequence);
        }
    }

    /// <summary>The line a sender sends: a v1 chat, a chat for its room, or a direct to its peer.</summary>
    private byte[] CreateLine(int sender, int size) =>
        _progress.Rooms > 1 ? BenchPayload.CreateLine(sender, size, BenchProgress.RoomName(_progress.RoomOf(sender)))
        : _progress.Direct ? BenchPayload.CreateDirectLine(sender, size, BenchProgress.NicknameOf(BenchProgress.PeerOf(sender)))
        : BenchPayload.CreateLine(sender, size);

    public void Dispose() => _socket.Dispose();

    private async Task ReceiveLoopAsync()
    {
        var buffer = ArrayPool<byte>.Shared.Rent(ReceiveBufferSize);
        int start = 0, end = 0;
        try
        {
            while (true)
            {
                if (end == buffer.Length)
                {
                    if (start > 0)
                    {
                        Buffer.BlockCopy(buffer, start, buffer, 0, end - start);
                        end -= start;
                        start = 0;
                    }
                    else
                    {
                        // One line longer than the buffer (a big roster): grow.
                        var bigger = ArrayPool<byte>.Shared.Rent(buffer.Length * 2);
                        Buffer.BlockCopy(buffer, 0, bigger, 0, end);
                        ArrayPool<byte>.Shared.Return(buffer);
                        buffer = bigger;
                    }
                }

                var read = await _socket.ReceiveAsync(buffer.AsMemory(end), SocketFlags.None).ConfigureAwait(false);
                if (read == 0)
                {
                    break;
                }

                end += read;
                start += HandleLines(buffer.AsSpan(start, end - start));
                if (start == end)
                {
                    start = end = 0;
                }
            }
        }
        catch (Exception exception) when (exception is SocketException or ObjectDisposedException)
        {
            // Closed by the bench at the end of the run, or by the broker.
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
            _welcomed.TrySetException(new IOException($"{Nickname}: the connection closed before welcome{(FirstError is null ? "" : $": {FirstError}")}"));
        }
    }

    // Returns how many bytes were consumed (whole lines only).
    private int HandleLines(ReadOnlySpan<byte> data)
    {
        var consumed = 0;
        int newline;
        while ((newline = data[consumed..].IndexOf((byte)'\n')) >= 0)
        {
            HandleLine(data.Slice(consumed, newline));
            consumed += newline + 1;
        }

        return consumed;
    }

    private void HandleLine(ReadOnlySpan<byte> line)
    {
        var text = line.IndexOf(BenchPayload.TextMarker);
        if (text >= 0)
        {
            OnChat(line, line[(text + BenchPayload.TextMarker.Length)..]);
            return;
        }

        if (line.IndexOf("\"user_joined\""u8) >= 0)
        {
            _others++;
        }
        else if (line.IndexOf("\"user_left\""u8) >= 0)
        {
            _others--;
        }
        else if (line.IndexOf("\"roster\""u8) >= 0)
        {
            // Nicknames hold no quotes, so the participants are the separators plus one.
            var list = line[(line.IndexOf((byte)'[') + 1)..];
            _others += list.IndexOf((byte)'"') < 0 ? 0 : list.Count("\",\""u8) + 1;
        }
        else if (line.IndexOf("\"joined\""u8) >= 0)
        {
            // v2: this client's room, with everybody else already in it.
            var list = line[(line.IndexOf((byte)'[') + 1)..];
            list = list[..Math.Max(0, list.IndexOf((byte)']'))];
            _others += list.IndexOf((byte)'"') < 0 ? 0 : list.Count("\",\""u8) + 1;
            _inRoom = true;
        }
        else if (line.IndexOf("\"welcome\""u8) >= 0)
        {
            if (_capability is not null && !Granted(line, _capability))
            {
                _welcomed.TrySetException(new BenchException(
                    $"{Nickname}: the broker did not grant {System.Text.Encoding.UTF8.GetString(_capability)} (a v1 broker?): {System.Text.Encoding.UTF8.GetString(line)}"));
                return;
            }

            _welcome = true;
            _inRoom = _roomField is null;
            _welcomed.TrySetResult();
        }
        else if (line.IndexOf("\"error\""u8) >= 0)
        {
            Errors++;
            FirstError ??= System.Text.Encoding.UTF8.GetString(line);
        }

        if (!_joinSignalled && _welcome && _inRoom && _others >= _expectedOthers)
        {
            _joinSignalled = true;
            _progress.ClientJoined();
        }
    }

    // The granted capabilities are the welcome's only array.
    private static bool Granted(ReadOnlySpan<byte> welcome, ReadOnlySpan<byte> capability)
    {
        var open = welcome.IndexOf("\"capabilities\""u8);
        if (open < 0)
        {
            return false;
        }

        var list = welcome[open..];
        var end = list.IndexOf((byte)']');
        return end >= 0 && list[..end].IndexOf(capability) >= 0;
    }

    private void OnChat(ReadOnlySpan<byte> line, ReadOnlySpan<byte> text)
    {
        var now = Stopwatch.GetTimestamp();
        var bench = BenchPayload.TryRead(text, out var sender, out var sequence, out var sent);
        if (!bench || (uint)sender >= (uint)_highest.Length || (uint)sequence >= (uint)_messages)
        {
            if (bench && sender == BenchPayload.ChurnSender)
            {
                Churn++;
            }
            else
            {
                Foreign++;
            }

            return;
        }

        if (_checkRouting && (!_progress.Hears(_index, sender) || (_roomField is not null && line.IndexOf(_roomField) < 0)))
        {
            Misrouted++;
            return;
        }

        Latency.Record((long)((now - sent) * MicrosecondsPerTick));
        var bit = ((long)sender * _messages) + sequence;
        ref var word = ref _seen[bit >> 6];
        var mask = 1UL << (int)(bit & 63);
        if ((word & mask) != 0)
        {
            Duplicated++;
        }
        else
        {
            word |= mask;
            var unique = _unique + 1;
            Volatile.Write(ref _unique, unique);
            if (sequence < _highest[sender])
            {
                OutOfOrder++;
            }
            else
            {
                // After the count (see Missing).
                Volatile.Write(ref _highest[sender], sequence);
            }

            if (unique == _expected)
            {
                _progress.ClientDone();
            }
        }

        Volatile.Write(ref _received, _received + 1);
        Volatile.Write(ref _lastDelivery, now);
    }
}
