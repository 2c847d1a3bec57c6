using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace LocalChatMesh.Cli.Bench;

/// <summary>What one bench run measured. Times in seconds, latencies in milliseconds, memory in bytes.</summary>
internal sealed record BenchReport
{
    public required string Broker { get; init; }

    public required int Clients { get; init; }

    public required int Senders { get; init; }

    public required int Messages { get; init; }

    public required int Size { get; init; }

    [JsonConverter(typeof(Round4OrNull))]
    public double? Rate { get; init; }

    public bool SilentClient { get; init; }

    public bool JoinOnly { get; init; }

    /// <summary>From the first connect until every client has its welcome and has seen everybody.</summary>
    [JsonConverter(typeof(Round4))]
    public required double JoinSeconds { get; init; }

    [JsonConverter(typeof(Round4OrNull))]
    public double? BrokerJoinCpuSeconds { get; init; }

    [JsonConverter(typeof(Round4))]
    public double BenchJoinCpuSeconds { get; init; }

    public long Expected { get; init; }

    /// <summary>Every bench chat line received, duplicates included.</summary>
    public long Received { get; init; }

    public long Lost { get; init; }

    public long Duplicated { get; init; }

    public long OutOfOrder { get; init; }

    /// <summary>From the first send until the last delivery.</summary>
    [JsonConverter(typeof(Round4))]
    public double Seconds { get; init; }

    [JsonConverter(typeof(Round0))]
    public double DeliveriesPerSecond { get; init; }

    public double LatencyP50Ms { get; init; }

    public double LatencyP90Ms { get; init; }

    public double LatencyP99Ms { get; init; }

    public double LatencyMaxMs { get; init; }

    /// <summary>Broker CPU (user + system) during the message phase.</summary>
    [JsonConverter(typeof(Round4OrNull))]
    public double? BrokerCpuSeconds { get; init; }

    [JsonConverter(typeof(Round4OrNull))]
    public double? BrokerCpuPerMillionDeliveries { get; init; }

    public long? BrokerPeakRssBytes { get; init; }

    /// <summary>With <c>--join-only</c> (broker in a process of its own): its RSS before anybody connected; absent otherwise.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public long? BrokerIdleRssBytes { get; init; }

    /// <summary>With <c>--join-only</c>: the broker's RSS with everybody joined, after the settle time.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public long? BrokerJoinedRssBytes { get; init; }

    /// <summary>With <c>--join-only</c>: joined minus idle RSS, divided by the connections.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public long? BrokerRssPerClientBytes { get; init; }

    /// <summary>The bench process's own CPU during the message phase (the broker's too when in-process).</summary>
    [JsonConverter(typeof(Round4))]
    public double BenchCpuSeconds { get; init; }

    [JsonConverter(typeof(Round4OrNull))]
    public double? BenchCpuPerMillionDeliveries { get; init; }

    public long ErrorsReceived { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? FirstError { get; init; }

    /// <summary>With <c>--rooms R</c> (R above 1): how many rooms; absent otherwise.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? Rooms { get; init; }

    /// <summary>True for the <c>--direct</c> workload; absent otherwise.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public bool? Direct { get; init; }

    /// <summary>With <c>--rooms</c>: the deliveries room by room.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<RoomDeliveries>? RoomDeliveries { get; init; }

    /// <summary>Protocol v2 runs: deliveries from a sender the client should not hear, or for another room.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public long? Misrouted { get; init; }

    /// <summary>True when the run ended early (cancelled, or stalled): the figures cover the run until then.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public bool? Partial { get; init; }

    /// <summary>Why a partial run ended: <c>cancelled</c>, <c>cancelled while joining (...)</c>, <c>stalled: ...</c>.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? StopReason { get; init; }

    /// <summary>In a partial run: the messages actually sent (every sender together).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public long? Sent { get; init; }

    /// <summary>True when the run went to its end and nothing was lost, duplicated, reordered or misrouted.</summary>
    [JsonIgnore]
    public bool Clean => Lost == 0 && Duplicated == 0 && OutOfOrder == 0 && (Misrouted ?? 0) == 0 && Partial is not true;

    public string ToText()
    {
        var text = new StringBuilder();
        void Line(FormattableString line) => text.AppendLine(line.ToString(CultureInfo.InvariantCulture));

        if (Partial is true)
        {
            Line($"partial:           {StopReason}; the figures cover the run until then ({Sent ?? 0} messages sent)");
        }

        Line($"broker:            {Broker}");
        var rate = Rate is { } perSecond ? $"{perSecond:0.##} msg/s per sender" : "unpaced";
        var spread = Rooms is { } rooms ? $" in {rooms} rooms" : Direct is true ? $" in {Clients / 2} direct pairs" : "";
        var kind = Direct is true ? "directs" : "messages";
        Line($"workload:          {Clients} clients{spread}{(SilentClient ? " + 1 silent" : "")}, {(JoinOnly ? "join only" : $"{Senders} senders x {Messages} {kind} of {Size} B, {rate}")}");
        Line($"connect + join:    {JoinSeconds:0.000} s{Cpu(BrokerJoinCpuSeconds, " (broker CPU {0:0.00} s")}{(BrokerJoinCpuSeconds is null ? " (" : ", ")}bench CPU {BenchJoinCpuSeconds:0.00} s)");
        if (!JoinOnly)
        {
            Line($"deliveries:        {Received} received of {Expected} expected; lost {Lost}, duplicated {Duplicated}, out of order {OutOfOrder}");
            if (RoomDeliveries is { Count: > 0 } perRoom)
            {
                var lossy = perRoom.Where(room => room.Lost != 0).Select(room => $"{room.Room} lost {room.Lost}").Take(5).ToList();
                Line($"rooms:             {perRoom.Count} rooms of {perRoom.Min(room => room.Clients)}-{perRoom.Max(room => room.Clients)} clients, {perRoom.Min(room => room.Senders)}-{perRoom.Max(room => room.Senders)} senders each; {(lossy.Count == 0 ? "no room lost anything" : string.Join(", ", lossy))}");
            }

            if (Misrouted is > 0)
            {
                Line($"misrouted:         {Misrouted} deliveries from a sender the client should not hear, or for another room");
            }

            Line($"throughput:        {DeliveriesPerSecond:N0} deliveries/s over {Seconds:0.000} s");
            Line($"latency:           p50 {LatencyP50Ms:0.000} ms, p90 {LatencyP90Ms:0.000} ms, p99 {LatencyP99Ms:0.000} ms, max {LatencyMaxMs:0.000} ms");
            Line($"broker CPU:        {Cpu(BrokerCpuSeconds, "{0:0.000} s")}{Cpu(BrokerCpuPerMillionDeliveries, ", {0:0.000} s per million deliveries")}");
            Line($"bench CPU:         {BenchCpuSeconds:0.000} s{Cpu(BenchCpuPerMillionDeliveries, ", {0:0.000} s per million deliveries")}");
        }

        Line($"broker peak RSS:   {(BrokerPeakRssBytes is { } rss ? $"{rss / (1024.0 * 1024):0.0} MB" : "unknown")}");
        if (BrokerIdleRssBytes is { } idle && BrokerJoinedRssBytes is { } joined && BrokerRssPerClientBytes is { } perClient)
        {
            Line($"broker RSS:        {idle / (1024.0 * 1024):0.0} MB idle, {joined / (1024.0 * 1024):0.0} MB joined: {perClient / 1024.0:0.00} KB per connection");
        }

        if (ErrorsReceived > 0)
        {
            Line($"errors received:   {ErrorsReceived}, first: {FirstError}");
        }

        return text.ToString();
    }

    public string ToJson() => JsonSerializer.Serialize(this, ReportJsonContext.Default.BenchReport);

    private static string Cpu(double? value, string format) =>
        value is { } v ? string.Format(CultureInfo.InvariantCulture, format, v) : format.StartsWith('{') ? "unknown (give --broker-pid, or let the bench start the broker)" : "";
}

/// <summary>One room's deliveries in a <c>--rooms</c> run: each sender's messages reach every member of its room.</summary>
internal sealed record RoomDeliveries
{
    public required string Room { get; init; }

    /// <summary>Receiving clients in the room (the silent client not counted).</summary>
    public required int Clients { get; init; }

    public required int Senders { get; init; }

    public required long Expected { get; init; }

    public required long Received { get; init; }

    public required long Lost { get; init; }
}
