using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace LocalChatMesh.Cli.Bench;

/// <summary>
/// One point of the soak's timeline. Counts are totals since the traffic started. Memory is the
/// broker process's resident set (VmRSS) or, for an in-process broker, this whole process's
/// working set plus its GC heap; null when it cannot be measured.
/// </summary>
internal sealed record SoakSample
{
    [JsonConverter(typeof(Round3))]
    public required double ElapsedSeconds { get; init; }

    /// <summary>True for the sample taken after the churn stopped and the stable traffic was delivered.</summary>
    public bool Final { get; init; }

    public long? RssBytes { get; init; }

    public long? GcHeapBytes { get; init; }

    /// <summary>Broker CPU (user + system) since the traffic started.</summary>
    [JsonConverter(typeof(Round4OrNull))]
    public double? BrokerCpuSeconds { get; init; }

    /// <summary>Churn connections over and done with.</summary>
    public long Churned { get; init; }

    public long ChurnFailures { get; init; }

    /// <summary>Stable chat lines received by stable clients, duplicates included.</summary>
    public long Deliveries { get; init; }

    /// <summary>
    /// Stable messages missing: while running, those behind a later message from the same sender
    /// (lost, or still to come out of order); in the final sample, every one not delivered.
    /// </summary>
    public long Lost { get; init; }

    public long Duplicated { get; init; }

    public long OutOfOrder { get; init; }

    /// <summary>The widest a timeline row may be, GC heap column and final mark included.</summary>
    public const int MaxRowWidth = 100;

    /// <summary>The column headings for <see cref="ToText"/>.</summary>
    public static string Heading(bool gcHeap) =>
        $"   elapsed  broker RSS{(gcHeap ? "   GC heap" : "")}  broker CPU   churned  deliveries    lost   dup reordered";

    /// <summary>
    /// One row of the timeline: columns as wide as a week-long run needs, 95 characters with the
    /// GC heap column and the final mark, so a row fits in <see cref="MaxRowWidth"/> columns.
    /// </summary>
    public string ToText(bool gcHeap) => string.Create(
        CultureInfo.InvariantCulture,
        $"{ElapsedSeconds,8:0.0} s{Megabytes(RssBytes),12}{(gcHeap ? $"{Megabytes(GcHeapBytes),10}" : "")}{(BrokerCpuSeconds is { } cpu ? $"{cpu:0.00} s" : "?"),12}{Churned,10}{Deliveries,12}{Lost,8}{Duplicated,6}{OutOfOrder,10}{(Final ? "  final" : "")}");

    internal static string Megabytes(long? bytes) =>
        bytes is { } b ? string.Create(CultureInfo.InvariantCulture, $"{b / (1024.0 * 1024):0.0} MB") : "?";
}

/// <summary>What one soak run saw. Times in seconds, latencies in milliseconds, memory in bytes.</summary>
internal sealed record SoakReport
{
    public required string Broker { get; init; }

    /// <summary>True when the broker ran inside the soak process: memory figures include the load generator.</summary>
    public bool InProcess { get; init; }

    public required int Clients { get; init; }

    public required int Senders { get; init; }

    public required double Rate { get; init; }

    public required int Churn { get; init; }

    /// <summary>The traffic's planned duration.</summary>
    [JsonConverter(typeof(Round3))]
    public required double DurationSeconds { get; init; }

    [JsonConverter(typeof(Round3))]
    public required double SampleIntervalSeconds { get; init; }

    [JsonConverter(typeof(Round4))]
    public required double JoinSeconds { get; init; }

    /// <summary>Memory once every stable client has joined, before any traffic.</summary>
    public long? JoinedRssBytes { get; init; }

    public long? JoinedGcHeapBytes { get; init; }

    public IReadOnlyList<SoakSample> Timeline { get; init; } = [];

    /// <summary>From the start of the traffic until the churn had stopped and the stable traffic was delivered.</summary>
    [JsonConverter(typeof(Round3))]
    public double TrafficSeconds { get; init; }

    /// <summary>Churn connections over and done with, every kind and failures together.</summary>
    public long ChurnConnections => ChurnGraceful + ChurnReset + ChurnHalfLine + ChurnNoHello + ChurnFailures;

    public long ChurnGraceful { get; init; }

    public long ChurnReset { get; init; }

    public long ChurnHalfLine { get; init; }

    public long ChurnNoHello { get; init; }

    public long ChurnFailures { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? FirstChurnFailure { get; init; }

    public long ChurnChatsSent { get; init; }

    /// <summary>Churn chats the stable clients received, all of them together (they may or may not see each).</summary>
    public long ChurnChatsSeen { get; init; }

    public long Expected { get; init; }

    /// <summary>Stable chat lines received, duplicates included.</summary>
    public long Received { get; init; }

    public long Lost { get; init; }

    public long Duplicated { get; init; }

    public long OutOfOrder { get; init; }

    /// <summary>Chat lines at stable clients that came from neither a stable sender nor the churn (corrupted or unknown).</summary>
    public long Unexpected { get; init; }

    /// <summary><c>error</c> lines received by stable clients.</summary>
    public long ErrorsReceived { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? FirstError { get; init; }

    /// <summary>Stable clients whose connection ended before the run did.</summary>
    public int StableDisconnected { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? SenderFailure { get; init; }

    public double LatencyP50Ms { get; init; }

    public double LatencyP99Ms { get; init; }

    public double LatencyMaxMs { get; init; }

    [JsonConverter(typeof(Round4OrNull))]
    public double? BrokerCpuSeconds { get; init; }

    /// <summary>The soak process's own CPU over the traffic (the broker's too when in-process).</summary>
    [JsonConverter(typeof(Round4))]
    public double SoakCpuSeconds { get; init; }

    /// <summary>Memory at the first sample of the timeline.</summary>
    public long? FirstRssBytes => First?.RssBytes;

    /// <summary>Memory at the last sample of the timeline.</summary>
    public long? LastRssBytes => Last?.RssBytes;

    /// <summary>Peak resident set (VmHWM) of the broker process, or of this process when in-process.</summary>
    public long? PeakRssBytes { get; init; }

    [JsonConverter(typeof(Round3))]
    public double SettleSeconds { get; init; }

    public long? SettledRssBytes { get; init; }

    public long? SettledGcHeapBytes { get; init; }

    /// <summary>True when the run ended early (cancelled, or stalled): the figures cover the run until then.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public bool? Partial { get; init; }

    /// <summary>Why a partial run ended: <c>cancelled</c>, <c>cancelled while ...</c>, <c>stalled: ...</c>.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? StopReason { get; init; }

    /// <summary>The first sample: after one interval of traffic, once the broker has warmed up.</summary>
    [JsonIgnore]
    public SoakSample? First => Timeline.Count > 0 ? Timeline[0] : null;

    [JsonIgnore]
    public SoakSample? Last => Timeline.Count > 0 ? Timeline[^1] : null;

    /// <summary>
    /// True when no stable message was lost, duplicated or reordered, the stable clients saw nothing
    /// they could not account for and stayed connected, and every churn connection went as planned.
    /// </summary>
    public bool Clean => Lost == 0 && Duplicated == 0 && OutOfOrder == 0 && Unexpected == 0 && ErrorsReceived == 0
        && StableDisconnected == 0 && ChurnFailures == 0 && SenderFailure is null && Partial is not true;

    /// <summary>What the run was, then the timeline's headings.</summary>
    public static string Preamble(string broker, int clients, int senders, double rate, int churn, double durationSeconds, double sampleIntervalSeconds, bool gcHeap) => string.Create(
        CultureInfo.InvariantCulture,
        $"""
        broker:            {broker}
        workload:          {clients} stable clients ({senders} sending {rate:0.##} msg/s each), {churn} churn clients at once
        timing:            {durationSeconds:0.###} s of traffic, a sample every {sampleIntervalSeconds:0.###} s ("final": after the drain)
        {SoakSample.Heading(gcHeap)}

        """);

    /// <summary>The summary after the timeline.</summary>
    public string ToSummaryText()
    {
        var text = new StringBuilder();
        void Line(FormattableString line) => text.AppendLine(line.ToString(CultureInfo.InvariantCulture));

        if (Partial is true)
        {
            Line($"partial:           {StopReason}");
        }

        Line($"joined:            {Clients} stable clients in {JoinSeconds:0.000} s; broker RSS then {SoakSample.Megabytes(JoinedRssBytes)}{(JoinedGcHeapBytes is { } heap ? $", GC heap {SoakSample.Megabytes(heap)}" : "")}");
        Line($"duration:          {TrafficSeconds:0.0} s of traffic ({DurationSeconds:0.0} s planned, plus the drain after the churn)");
        Line($"churn:             {ChurnConnections} connections: {ChurnGraceful} graceful, {ChurnReset} reset, {ChurnHalfLine} half line, {ChurnNoHello} no hello");
        Line($"churn chats:       {ChurnChatsSent} sent, {ChurnChatsSeen} seen by stable clients; {ChurnFailures} connections failed");
        if (FirstChurnFailure is not null)
        {
            Line($"first churn fault: {FirstChurnFailure}");
        }

        Line($"deliveries:        {Received} received of {Expected} expected; lost {Lost}, duplicated {Duplicated}, out of order {OutOfOrder}");
        Line($"latency (stable):  p50 {LatencyP50Ms:0.000} ms, p99 {LatencyP99Ms:0.000} ms, max {LatencyMaxMs:0.000} ms");
        Line($"broker RSS:        first {SoakSample.Megabytes(First?.RssBytes)}, last {SoakSample.Megabytes(Last?.RssBytes)}, peak {SoakSample.Megabytes(PeakRssBytes)}, after {SettleSeconds:0.#} s settle {SoakSample.Megabytes(SettledRssBytes)}");
        if (InProcess)
        {
            Line($"                   (in-process: this whole process, load generator included)");
        }

        if (InProcess)
        {
            Line($"GC heap:           first {SoakSample.Megabytes(First?.GcHeapBytes)}, last {SoakSample.Megabytes(Last?.GcHeapBytes)}, after settle {SoakSample.Megabytes(SettledGcHeapBytes)}");
        }

        Line($"broker CPU:        {(BrokerCpuSeconds is { } cpu ? $"{cpu:0.00} s ({cpu * 100 / Math.Max(TrafficSeconds, 0.001):0} % of one core)" : "unknown (give --broker-pid, or let the soak start the broker)")}");
        Line($"soak CPU:          {SoakCpuSeconds:0.00} s");
        if (Unexpected > 0 || StableDisconnected > 0 || SenderFailure is not null)
        {
            Line($"faults:            {Unexpected} unexpected chat lines, {StableDisconnected} stable clients disconnected");
            if (SenderFailure is not null)
            {
                Line($"sender failure:    {SenderFailure}");
            }
        }

        if (ErrorsReceived > 0)
        {
            Line($"errors received:   {ErrorsReceived}, first: {FirstError}");
        }

        Line($"result:            {(Clean ? "clean" : "NOT clean")}");
        return text.ToString();
    }

    /// <summary>The whole report as text: preamble, timeline and summary.</summary>
    public string ToText()
    {
        var text = new StringBuilder(Preamble(Broker, Clients, Senders, Rate, Churn, DurationSeconds, SampleIntervalSeconds, InProcess));
        foreach (var sample in Timeline)
        {
            text.AppendLine(sample.ToText(InProcess));
        }

        return text.Append(ToSummaryText()).ToString();
    }

    public string ToJson() => JsonSerializer.Serialize(this, ReportJsonContext.Default.SoakReport);
}
