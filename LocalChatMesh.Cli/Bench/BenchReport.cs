using System.Globalization;
using System.Text;
using System.Text.Json;

namespace LocalChatMesh.Cli.Bench;

/// <summary>What one bench run measured. Times in seconds, latencies in milliseconds, memory in bytes.</summary>
internal sealed record BenchReport
{
    public required string Broker { get; init; }

    public required int Clients { get; init; }

    public required int Senders { get; init; }

    public required int Messages { get; init; }

    public required int Size { get; init; }

    public double? Rate { get; init; }

    public bool SilentClient { get; init; }

    public bool JoinOnly { get; init; }

    /// <summary>From the first connect until every client has its welcome and has seen everybody.</summary>
    public required double JoinSeconds { get; init; }

    public double? BrokerJoinCpuSeconds { get; init; }

    public double BenchJoinCpuSeconds { get; init; }

    public long Expected { get; init; }

    /// <summary>Every bench chat line received, duplicates included.</summary>
    public long Received { get; init; }

    public long Lost { get; init; }

    public long Duplicated { get; init; }

    public long OutOfOrder { get; init; }

    /// <summary>From the first send until the last delivery.</summary>
    public double Seconds { get; init; }

    public double DeliveriesPerSecond { get; init; }

    public double LatencyP50Ms { get; init; }

    public double LatencyP90Ms { get; init; }

    public double LatencyP99Ms { get; init; }

    public double LatencyMaxMs { get; init; }

    /// <summary>Broker CPU (user + system) during the message phase.</summary>
    public double? BrokerCpuSeconds { get; init; }

    public double? BrokerCpuPerMillionDeliveries { get; init; }

    public long? BrokerPeakRssBytes { get; init; }

    /// <summary>The bench process's own CPU during the message phase (the broker's too when in-process).</summary>
    public double BenchCpuSeconds { get; init; }

    public double? BenchCpuPerMillionDeliveries { get; init; }

    public long ErrorsReceived { get; init; }

    public string? FirstError { get; init; }

    /// <summary>True when nothing was lost, duplicated or reordered and everyone joined.</summary>
    public bool Clean => Lost == 0 && Duplicated == 0 && OutOfOrder == 0;

    public string ToText()
    {
        var text = new StringBuilder();
        void Line(FormattableString line) => text.AppendLine(line.ToString(CultureInfo.InvariantCulture));

        Line($"broker:            {Broker}");
        var rate = Rate is { } perSecond ? $"{perSecond:0.##} msg/s per sender" : "unpaced";
        Line($"workload:          {Clients} clients{(SilentClient ? " + 1 silent" : "")}, {(JoinOnly ? "join only" : $"{Senders} senders x {Messages} messages of {Size} B, {rate}")}");
        Line($"connect + join:    {JoinSeconds:0.000} s{Cpu(BrokerJoinCpuSeconds, " (broker CPU {0:0.00} s")}{(BrokerJoinCpuSeconds is null ? " (" : ", ")}bench CPU {BenchJoinCpuSeconds:0.00} s)");
        if (!JoinOnly)
        {
            Line($"deliveries:        {Received} received of {Expected} expected; lost {Lost}, duplicated {Duplicated}, out of order {OutOfOrder}");
            Line($"throughput:        {DeliveriesPerSecond:N0} deliveries/s over {Seconds:0.000} s");
            Line($"latency:           p50 {LatencyP50Ms:0.000} ms, p90 {LatencyP90Ms:0.000} ms, p99 {LatencyP99Ms:0.000} ms, max {LatencyMaxMs:0.000} ms");
            Line($"broker CPU:        {Cpu(BrokerCpuSeconds, "{0:0.000} s")}{Cpu(BrokerCpuPerMillionDeliveries, ", {0:0.000} s per million deliveries")}");
            Line($"bench CPU:         {BenchCpuSeconds:0.000} s{Cpu(BenchCpuPerMillionDeliveries, ", {0:0.000} s per million deliveries")}");
        }

        Line($"broker peak RSS:   {(BrokerPeakRssBytes is { } rss ? $"{rss / (1024.0 * 1024):0.0} MB" : "unknown")}");
        if (ErrorsReceived > 0)
        {
            Line($"errors received:   {ErrorsReceived}, first: {FirstError}");
        }

        return text.ToString();
    }

    public string ToJson()
    {
        using var stream = new MemoryStream();
        using (var json = new Utf8JsonWriter(stream))
        {
            json.WriteStartObject();
            json.WriteString("broker", Broker);
            json.WriteNumber("clients", Clients);
            json.WriteNumber("senders", Senders);
            json.WriteNumber("messages", Messages);
            json.WriteNumber("size", Size);
            json.WriteNumberOrNull("rate", Rate);
            json.WriteBoolean("silentClient", SilentClient);
            json.WriteBoolean("joinOnly", JoinOnly);
            json.WriteNumber("joinSeconds", Math.Round(JoinSeconds, 4));
            json.WriteNumberOrNull("brokerJoinCpuSeconds", BrokerJoinCpuSeconds);
            json.WriteNumber("benchJoinCpuSeconds", Math.Round(BenchJoinCpuSeconds, 4));
            json.WriteNumber("expected", Expected);
            json.WriteNumber("received", Received);
            json.WriteNumber("lost", Lost);
            json.WriteNumber("duplicated", Duplicated);
            json.WriteNumber("outOfOrder", OutOfOrder);
            json.WriteNumber("seconds", Math.Round(Seconds, 4));
            json.WriteNumber("deliveriesPerSecond", Math.Round(DeliveriesPerSecond));
            json.WriteNumber("latencyP50Ms", LatencyP50Ms);
            json.WriteNumber("latencyP90Ms", LatencyP90Ms);
            json.WriteNumber("latencyP99Ms", LatencyP99Ms);
            json.WriteNumber("latencyMaxMs", LatencyMaxMs);
            json.WriteNumberOrNull("brokerCpuSeconds", BrokerCpuSeconds);
            json.WriteNumberOrNull("brokerCpuPerMillionDeliveries", BrokerCpuPerMillionDeliveries);
            json.WriteNumberOrNull("brokerPeakRssBytes", BrokerPeakRssBytes);
            json.WriteNumber("benchCpuSeconds", Math.Round(BenchCpuSeconds, 4));
            json.WriteNumberOrNull("benchCpuPerMillionDeliveries", BenchCpuPerMillionDeliveries);
            json.WriteNumber("errorsReceived", ErrorsReceived);
            if (FirstError is not null)
            {
                json.WriteString("firstError", FirstError);
            }

            json.WriteEndObject();
        }

        return Encoding.UTF8.GetString(stream.ToArray());
    }

    private static string Cpu(double? value, string format) =>
        value is { } v ? string.Format(CultureInfo.InvariantCulture, format, v) : format.StartsWith('{') ? "unknown (give --broker-pid, or let the bench start the broker)" : "";
}
