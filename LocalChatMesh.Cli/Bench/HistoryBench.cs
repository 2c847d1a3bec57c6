using System.Buffers.Text;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace LocalChatMesh.Cli.Bench;

/// <summary>The history workloads of <c>bench</c> (issue 11): a join storm with history, and a broker full of history.</summary>
internal enum HistoryWorkload
{
    /// <summary><c>--join-history N</c>: one room holds N chats; every client joins it at once with <c>history: N</c>.</summary>
    JoinHistory,

    /// <summary><c>--fill-rooms R</c>: R rooms each get <c>--messages</c> chats; the broker's memory is read after.</summary>
    FillRooms,
}

/// <summary>What a history workload measured. Times in seconds, memory in bytes.</summary>
internal sealed record HistoryBenchReport
{
    public required string Broker { get; init; }

    /// <summary><c>join-history</c> or <c>fill-rooms</c>.</summary>
    public required string Workload { get; init; }

    /// <summary>Bytes of chat text per chat.</summary>
    public required int Size { get; init; }

    /// <summary>Rooms filled (1 for <c>join-history</c>).</summary>
    public required int Rooms { get; init; }

    /// <summary>Chats sent to each room before the measurement.</summary>
    public required int ChatsPerRoom { get; init; }

    [JsonConverter(typeof(Round4))]
    public required double FillSeconds { get; init; }

    [JsonConverter(typeof(Round4OrNull))]
    public double? BrokerFillCpuSeconds { get; init; }

    /// <summary><c>join-history</c>: the clients that joined at once.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? Clients { get; init; }

    /// <summary><c>join-history</c>: the <c>history</c> each join asked for.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? History { get; init; }

    /// <summary><c>join-history</c>: replayed chats expected in all (clients times what the room holds, at most <see cref="History"/> each).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public long? Expected { get; init; }

    /// <summary><c>join-history</c>: replayed chats received in all.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public long? Replayed { get; init; }

    /// <summary><c>join-history</c>: the fewest a client received.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public long? ReplayedMin { get; init; }

    /// <summary><c>join-history</c>: from the first join sent until every client had its whole replay.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    [JsonConverter(typeof(Round4OrNull))]
    public double? JoinSeconds { get; init; }

    /// <summary><c>join-history</c>: broker CPU (user + system) over <see cref="JoinSeconds"/>.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    [JsonConverter(typeof(Round4OrNull))]
    public double? BrokerJoinCpuSeconds { get; init; }

    /// <summary>The broker's resident memory before the fill (clients connected).</summary>
    public long? BrokerRssBeforeBytes { get; init; }

    /// <summary>The broker's resident memory once every room is filled.</summary>
    public long? BrokerRssAfterBytes { get; init; }

    public long? BrokerPeakRssBytes { get; init; }

    /// <summary><c>fill-rooms</c>: chats the first room filled still holds (the oldest go first when the broker's byte cap is reached).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public long? KeptInFirstRoom { get; init; }

    /// <summary><c>fill-rooms</c>: chats the last room filled still holds.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public long? KeptInLastRoom { get; init; }

    /// <summary>True when every replay was whole (join-history) or every chat was echoed (fill-rooms).</summary>
    public required bool Clean { get; init; }

    public string ToJson() => JsonSerializer.Serialize(this, ReportJsonContext.Default.HistoryBenchReport);

    public string ToText()
    {
        var text = new StringBuilder();
        void Line(FormattableString line) => text.AppendLine(line.ToString(CultureInfo.InvariantCulture));
        static string Mb(long? bytes) => bytes is { } b ? string.Create(CultureInfo.InvariantCulture, $"{b / (1024.0 * 1024):0.0} MB") : "unknown";
        static string Cpu(double? seconds) => seconds is { } s ? string.Create(CultureInfo.InvariantCulture, $"{s:0.000} s") : "unknown (give --broker-pid, or let the bench start the broker)";

        Line($"broker:            {Broker}");
        Line($"workload:          {Workload}: {Rooms} room{(Rooms == 1 ? "" : "s")} x {ChatsPerRoom} chats of {Size} B{(Clients is { } c ? $", then {c} clients join with history {History}" : "")}");
        Line($"fill:              {FillSeconds:0.000} s, broker CPU {Cpu(BrokerFillCpuSeconds)}");
        if (Clients is not null)
        {
            Line($"replayed:          {Replayed} of {Expected} expected (fewest for one client: {ReplayedMin})");
            Line($"join with history: {JoinSeconds:0.000} s, broker CPU {Cpu(BrokerJoinCpuSeconds)}");
        }
        else
        {
            Line($"history kept:      {KeptInFirstRoom} chats in the first room filled, {KeptInLastRoom} in the last");
        }

        Line($"broker RSS:        {Mb(BrokerRssBeforeBytes)} before, {Mb(BrokerRssAfterBytes)} after, peak {Mb(BrokerPeakRssBytes)}");
        return text.ToString();
    }
}

/// <summary>
/// Runs the history workloads over raw sockets (protocol v2 with <c>rooms</c>, <c>meta</c> and
/// <c>history</c>), counting lines without parsing JSON.
/// </summary>
internal static class HistoryBench
{
    /// <summary>The broker's default <c>MaxRoomsPerClient</c>: how many rooms one filler fills.</summary>
    private const int RoomsPerFiller = 32;

    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(300);

    public static async Task<HistoryBenchReport> RunAsync(BenchOptions options, CancellationToken cancellationToken)
    {
        await using var broker = await BrokerTarget.StartAsync(options, cancellationToken);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(Deadline);
        var token = deadline.Token;
        try
        {
            return options.HistoryWorkload == HistoryWorkload.JoinHistory
                ? await JoinHistoryAsync(options, broker, token)
                : await FillRoomsAsync(options, broker, token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new BenchException($"the history workload did not finish within {Deadline.TotalSeconds:0} s");
        }
    }

    private static async Task<HistoryBenchReport> JoinHistoryAsync(BenchOptions options, BrokerTarget broker, CancellationToken cancellationToken)
    {
        const string room = "bench-history";
        var history = options.JoinHistory!.Value;

        // One filler puts the history in the room and waits for its own echoes.
        var rssBefore = broker.Rss();
        var fillCpu = broker.CpuTime();
        var fillStart = Stopwatch.GetTimestamp();
        bool filled;
        using (var filler = await LineClient.ConnectAsync(broker.EndPoint, "hfill", cancellationToken))
        {
            filled = await filler.FillAsync([room], history, options.Size, cancellationToken);
        }

        var fillSeconds = Stopwatch.GetElapsedTime(fillStart).TotalSeconds;
        var brokerFillCpu = broker.CpuTime() - fillCpu;

        // Everybody connects first; only the joins are measured.
        var clients = new LineClient[options.Clients];
        try
        {
            using (var connecting = new SemaphoreSlim(options.ConnectConcurrency))
            {
                await Task.WhenAll(Enumerable.Range(0, options.Clients).Select(async i =>
                {
                    await connecting.WaitAsync(cancellationToken);
                    try
                    {
                        clients[i] = await LineClient.ConnectAsync(broker.EndPoint, BenchProgress.NicknameOf(i), cancellationToken);
                    }
                    finally
                    {
                        connecting.Release();
                    }
                }));
            }

            var joinLine = Encoding.UTF8.GetBytes($$"""{"type":"join","room":"{{room}}","history":{{history}}}""" + "\n");
            var joinCpu = broker.CpuTime();
            var joinStart = Stopwatch.GetTimestamp();
            var replayed = await Task.WhenAll(clients.Select(client => Task.Run(() => client.JoinWithHistoryAsync(joinLine, cancellationToken), CancellationToken.None)));
            var joinSeconds = Stopwatch.GetElapsedTime(joinStart).TotalSeconds;
            var brokerJoinCpu = broker.CpuTime() - joinCpu;
            var expected = (long)options.Clients * history;
            return new HistoryBenchReport
            {
                Broker = broker.Description,
                Workload = "join-history",
                Size = options.Size,
                Rooms = 1,
                ChatsPerRoom = history,
                FillSeconds = fillSeconds,
                BrokerFillCpuSeconds = brokerFillCpu?.TotalSeconds,
                Clients = options.Clients,
                History = history,
                Expected = expected,
                Replayed = replayed.Sum(),
                ReplayedMin = replayed.Min(),
                JoinSeconds = joinSeconds,
                BrokerJoinCpuSeconds = brokerJoinCpu?.TotalSeconds,
                BrokerRssBeforeBytes = rssBefore,
                BrokerRssAfterBytes = broker.Rss(),
                BrokerPeakRssBytes = broker.PeakRss(),
                Clean = filled && replayed.Sum() == expected,
            };
        }
        finally
        {
            foreach (var client in clients)
            {
                client?.Dispose();
            }
        }
    }

    private static async Task<HistoryBenchReport> FillRoomsAsync(BenchOptions options, BrokerTarget broker, CancellationToken cancellationToken)
    {
        var rooms = options.FillRooms!.Value;
        var names = Enumerable.Range(0, rooms).Select(i => string.Create(CultureInfo.InvariantCulture, $"fill-{i}")).ToArray();
        var groups = names.Chunk(RoomsPerFiller).ToArray();
        var fillers = new LineClient[groups.Length];
        try
        {
            for (var i = 0; i < groups.Length; i++)
            {
                fillers[i] = await LineClient.ConnectAsync(broker.EndPoint, string.Create(CultureInfo.InvariantCulture, $"f{i}"), cancellationToken);
            }

            var rssBefore = broker.Rss();
            var fillCpu = broker.CpuTime();
            var fillStart = Stopwatch.GetTimestamp();

            // Fillers one after another: the rooms are filled in order, so the first filled is the oldest.
            var filled = true;
            foreach (var (filler, group) in fillers.Zip(groups))
            {
                filled &= await filler.FillAsync(group, options.Messages, options.Size, cancellationToken);
            }

            var fillSeconds = Stopwatch.GetElapsedTime(fillStart).TotalSeconds;
            var brokerFillCpu = broker.CpuTime() - fillCpu;
            var rssAfter = broker.Rss();
            var peak = broker.PeakRss();

            // What the oldest and the newest room still hold, asked by a fresh client each. A room
            // whose every chat went to the byte cap still reports its last id and replays nothing,
            // so a pause ends the count too.
            async Task<long> KeptAsync(string room, string nickname)
            {
                using var sampler = await LineClient.ConnectAsync(broker.EndPoint, nickname, cancellationToken);
                var join = Encoding.UTF8.GetBytes($$"""{"type":"join","room":"{{room}}","history":{{options.Messages}}}""" + "\n");
                return await sampler.JoinWithHistoryAsync(join, cancellationToken, idle: TimeSpan.FromSeconds(2));
            }

            var first = await KeptAsync(names[0], "hsample0");
            var last = await KeptAsync(names[^1], "hsample1");
            return new HistoryBenchReport
            {
                Broker = broker.Description,
                Workload = "fill-rooms",
                Size = options.Size,
                Rooms = rooms,
                ChatsPerRoom = options.Messages,
                FillSeconds = fillSeconds,
                BrokerFillCpuSeconds = brokerFillCpu?.TotalSeconds,
                BrokerRssBeforeBytes = rssBefore,
                BrokerRssAfterBytes = rssAfter,
                BrokerPeakRssBytes = peak,
                KeptInFirstRoom = first,
                KeptInLastRoom = last,
                Clean = filled,
            };
        }
        finally
        {
            foreach (var filler in fillers)
            {
                filler?.Dispose();
            }
        }
    }

    /// <summary>One raw v2 connection that reads whole lines and looks at a few fields by their bytes.</summary>
    private sealed class LineClient : IDisposable
    {
        private static readonly byte[] Capabilities = ",\"capabilities\":[\"rooms\",\"history\",\"meta\"]}\n"u8.ToArray();

        private readonly Socket _socket;
        private byte[] _buffer = new byte[64 * 1024];
        private int _start;
        private int _end;

        private LineClient(Socket socket) => _socket = socket;

        public static async Task<LineClient> ConnectAsync(IPEndPoint endPoint, string nickname, CancellationToken cancellationToken)
        {
            byte[] hello = [.. Encoding.UTF8.GetBytes("{\"type\":\"hello\",\"nickname\":\"" + nickname + "\""), .. Capabilities];
            var client = new LineClient(await BenchRunner.ConnectAsync(endPoint, hello, cancellationToken));
            try
            {
                await client.ReadUntilAsync(line => Starts(line, "{\"type\":\"welcome\"") || Refused(line), cancellationToken);
                return client;
            }
            catch
            {
                client.Dispose();
                throw;
            }
        }

        /// <summary>Joins <paramref name="rooms"/>, then sends <paramref name="chats"/> to each (round robin) and waits for every echo; false when the broker refused something.</summary>
        public async Task<bool> FillAsync(string[] rooms, int chats, int size, CancellationToken cancellationToken)
        {
            var joins = rooms.SelectMany(room => Encoding.UTF8.GetBytes($$"""{"type":"join","room":"{{room}}"}""" + "\n")).ToArray();
            await _socket.SendAsync(joins, SocketFlags.None, cancellationToken);
            var joined = 0;
            await ReadUntilAsync(line => Refused(line) || (Starts(line, "{\"type\":\"joined\"") && ++joined == rooms.Length), cancellationToken);

            var lines = rooms.Select(room => BenchPayload.CreateLine(0, size, room)).ToArray();
            var total = (long)rooms.Length * chats;
            long echoed = 0;
            var reading = ReadUntilAsync(line => Refused(line) || (Starts(line, "{\"type\":\"chat\"") && ++echoed == total), cancellationToken);
            var batch = new MemoryStream();
            for (var i = 0; i < chats; i++)
            {
                foreach (var line in lines)
                {
                    batch.Write(line);
                }

                if (batch.Length > 32 * 1024 || i == chats - 1)
                {
                    await _socket.SendAsync(batch.GetBuffer().AsMemory(0, (int)batch.Length), SocketFlags.None, cancellationToken);
                    batch.SetLength(0);
                }
            }

            await reading;
            return echoed == total;
        }

        /// <summary>Sends a join with history and counts the replay: until the chat with the joined's last id, or at once when it is 0.</summary>
        public async Task<long> JoinWithHistoryAsync(byte[] join, CancellationToken cancellationToken, TimeSpan? idle = null)
        {
            await _socket.SendAsync(join, SocketFlags.None, cancellationToken);
            long lastId = -1;
            long replayed = 0;
            await ReadUntilAsync(
                line =>
                {
                    if (Refused(line))
                    {
                        return true;
                    }

                    if (Starts(line, "{\"type\":\"joined\""))
                    {
                        lastId = Number(line, "\"last_id\":"u8) ?? 0;
                        return lastId == 0;
                    }

                    if (lastId > 0 && Starts(line, "{\"type\":\"chat\"") && line.IndexOf("\"history\":true"u8) >= 0)
                    {
                        replayed++;
                        return Number(line, "\"id\":"u8) >= lastId;
                    }

                    return false;
                },
                cancellationToken,
                idle);
            return replayed;
        }

        public void Dispose() => _socket.Dispose();

        private static bool Starts(ReadOnlySpan<byte> line, string prefix) => line.StartsWith(Encoding.ASCII.GetBytes(prefix));

        // An error from the broker ends the wait (the counts then say what was missed).
        private static bool Refused(ReadOnlySpan<byte> line) => line.StartsWith("{\"type\":\"error\""u8);

        private static long? Number(ReadOnlySpan<byte> line, ReadOnlySpan<byte> field)
        {
            var at = line.IndexOf(field);
            return at >= 0 && Utf8Parser.TryParse(line[(at + field.Length)..], out long value, out _) ? value : null;
        }

        private delegate bool LineHandler(ReadOnlySpan<byte> line);

        // With idle, a pause that long ends the wait as well (the connection is then good for nothing more).
        private async Task ReadUntilAsync(LineHandler handle, CancellationToken cancellationToken, TimeSpan? idle = null)
        {
            while (true)
            {
                while (_buffer.AsSpan(_start, _end - _start).IndexOf((byte)'\n') is var newline and >= 0)
                {
                    var line = _buffer.AsSpan(_start, newline);
                    _start += newline + 1;
                    if (handle(line))
                    {
                        return;
                    }
                }

                if (_start > 0)
                {
                    Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
                    _end -= _start;
                    _start = 0;
                }

                if (_end == _buffer.Length)
                {
                    Array.Resize(ref _buffer, _buffer.Length * 2);
                }

                int read;
                if (idle is { } pause)
                {
                    using var quiet = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                    quiet.CancelAfter(pause);
                    try
                    {
                        read = await _socket.ReceiveAsync(_buffer.AsMemory(_end), SocketFlags.None, quiet.Token);
                    }
                    catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                    {
                        return;
                    }
                }
                else
                {
                    read = await _socket.ReceiveAsync(_buffer.AsMemory(_end), SocketFlags.None, cancellationToken);
                }

                if (read == 0)
                {
                    throw new BenchException("the broker closed a connection");
                }

                _end += read;
            }
        }
    }
}
