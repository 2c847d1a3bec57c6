using System.Text.Json;
using LocalChatMesh.Cli.Bench;

namespace LocalChatMesh.Tests.Cli;

/// <summary>
/// The JSON reports of <c>bench --json</c> and <c>soak --json</c> are read by scripts: these pin
/// their shape (names, order, nesting, nulls, omitted fields and rounding) to the exact text.
/// </summary>
public class ReportJsonTests
{
    internal static BenchReport FullBench => new()
    {
        Broker = "child process, pid 42",
        Clients = 200,
        Senders = 10,
        Messages = 500,
        Size = 64,
        Rate = 123.456789,
        SilentClient = true,
        JoinOnly = false,
        JoinSeconds = 1.23456789,
        BrokerJoinCpuSeconds = 0.987654321,
        BenchJoinCpuSeconds = 0.5,
        Expected = 1_000_000,
        Received = 999_999,
        Lost = 1,
        Duplicated = 2,
        OutOfOrder = 3,
        Seconds = 0.123456789,
        DeliveriesPerSecond = 8_100_000.6,
        LatencyP50Ms = 0.123,
        LatencyP90Ms = 1.5,
        LatencyP99Ms = 98.304,
        LatencyMaxMs = 117,
        BrokerCpuSeconds = 0.0812345,
        BrokerCpuPerMillionDeliveries = 0.08123456,
        BrokerPeakRssBytes = 83_886_080,
        BenchCpuSeconds = 0.13579246,
        BenchCpuPerMillionDeliveries = 0.1357925,
        ErrorsReceived = 1,
        FirstError = "{\"type\":\"error\",\"message\":\"x\"}",
    };

    internal static BenchReport UnmeasuredBench => new()
    {
        Broker = "external at 127.0.0.1:5000, pid unknown",
        Clients = 20,
        Senders = 0,
        Messages = 500,
        Size = 64,
        JoinOnly = true,
        JoinSeconds = 0.25,
        BenchJoinCpuSeconds = 0.01,
    };

    internal static BenchReport PartialRoomsBench => UnmeasuredBench with
    {
        JoinOnly = false,
        Senders = 2,
        Expected = 40,
        Received = 30,
        Lost = 10,
        Rooms = 2,
        RoomDeliveries =
        [
            new RoomDeliveries { Room = "bench-0", Clients = 2, Senders = 1, Expected = 20, Received = 20, Lost = 0 },
            new RoomDeliveries { Room = "bench-1", Clients = 2, Senders = 1, Expected = 20, Received = 10, Lost = 10 },
        ],
        Misrouted = 0,
        Partial = true,
        StopReason = "cancelled",
        Sent = 15,
    };

    internal static SoakReport FullSoak => new()
    {
        Broker = "in-process (its CPU is counted in the bench's)",
        InProcess = true,
        Clients = 50,
        Senders = 5,
        Rate = 50.5,
        Churn = 20,
        DurationSeconds = 300.0004,
        SampleIntervalSeconds = 10,
        JoinSeconds = 0.1234567,
        JoinedRssBytes = 57_000_000,
        JoinedGcHeapBytes = 11_000_000,
        Timeline =
        [
            new SoakSample { ElapsedSeconds = 10.0004, RssBytes = 77_000_000, GcHeapBytes = 12_000_000, BrokerCpuSeconds = 1.23456, Churned = 400, Deliveries = 125_000, Lost = 0 },
            new SoakSample { ElapsedSeconds = 300.6789, Final = true, RssBytes = 78_000_000, GcHeapBytes = 12_500_000, BrokerCpuSeconds = 26.4, Churned = 11_981, ChurnFailures = 1, Deliveries = 3_750_000, Lost = 2, Duplicated = 3, OutOfOrder = 4 },
        ],
        TrafficSeconds = 300.6789,
        ChurnGraceful = 2995,
        ChurnReset = 2996,
        ChurnHalfLine = 2995,
        ChurnNoHello = 2994,
        ChurnFailures = 1,
        FirstChurnFailure = "c7 (Reset): refused",
        ChurnChatsSent = 13_464,
        ChurnChatsSeen = 673_200,
        Expected = 3_750_000,
        Received = 3_749_999,
        Lost = 2,
        Duplicated = 3,
        OutOfOrder = 4,
        Unexpected = 5,
        ErrorsReceived = 6,
        FirstError = "{\"type\":\"error\",\"message\":\"y\"}",
        StableDisconnected = 7,
        SenderFailure = "broken pipe",
        LatencyP50Ms = 0.76,
        LatencyP99Ms = 1.8,
        LatencyMaxMs = 13.1,
        BrokerCpuSeconds = 26.41234567,
        SoakCpuSeconds = 30.98765432,
        PeakRssBytes = 78_500_000,
        SettleSeconds = 5,
        SettledRssBytes = 78_400_000,
        SettledGcHeapBytes = 12_400_000,
    };

    internal static SoakReport UnmeasuredSoak => new()
    {
        Broker = "external at 127.0.0.1:5000, pid unknown",
        Clients = 8,
        Senders = 3,
        Rate = 40,
        Churn = 0,
        DurationSeconds = 3,
        SampleIntervalSeconds = 1,
        JoinSeconds = 0.05,
        Timeline = [new SoakSample { ElapsedSeconds = 3.2, Final = true, Deliveries = 2880 }],
        TrafficSeconds = 3.2,
        Expected = 2880,
        Received = 2880,
        SoakCpuSeconds = 0.5,
        SettleSeconds = 0.5,
    };

    [Test]
    public void A_full_bench_report_keeps_its_names_order_rounding_and_nulls() =>
        Assert.That(FullBench.ToJson(), Is.EqualTo("""
            {"broker":"child process, pid 42","clients":200,"senders":10,"messages":500,"size":64,"rate":123.4568,"silentClient":true,"joinOnly":false,"joinSeconds":1.2346,"brokerJoinCpuSeconds":0.9877,"benchJoinCpuSeconds":0.5,"expected":1000000,"received":999999,"lost":1,"duplicated":2,"outOfOrder":3,"seconds":0.1235,"deliveriesPerSecond":8100001,"latencyP50Ms":0.123,"latencyP90Ms":1.5,"latencyP99Ms":98.304,"latencyMaxMs":117,"brokerCpuSeconds":0.0812,"brokerCpuPerMillionDeliveries":0.0812,"brokerPeakRssBytes":83886080,"benchCpuSeconds":0.1358,"benchCpuPerMillionDeliveries":0.1358,"errorsReceived":1,"firstError":"{\u0022type\u0022:\u0022error\u0022,\u0022message\u0022:\u0022x\u0022}"}
            """));

    [Test]
    public void An_unmeasured_bench_report_writes_unknowns_as_null_and_leaves_out_first_error() =>
        Assert.That(UnmeasuredBench.ToJson(), Is.EqualTo("""
            {"broker":"external at 127.0.0.1:5000, pid unknown","clients":20,"senders":0,"messages":500,"size":64,"rate":null,"silentClient":false,"joinOnly":true,"joinSeconds":0.25,"brokerJoinCpuSeconds":null,"benchJoinCpuSeconds":0.01,"expected":0,"received":0,"lost":0,"duplicated":0,"outOfOrder":0,"seconds":0,"deliveriesPerSecond":0,"latencyP50Ms":0,"latencyP90Ms":0,"latencyP99Ms":0,"latencyMaxMs":0,"brokerCpuSeconds":null,"brokerCpuPerMillionDeliveries":null,"brokerPeakRssBytes":null,"benchCpuSeconds":0,"benchCpuPerMillionDeliveries":null,"errorsReceived":0}
            """));

    [Test]
    public void A_measured_join_only_report_adds_the_idle_and_joined_rss_after_the_peak()
    {
        var report = UnmeasuredBench with
        {
            Broker = "child process, pid 42",
            BrokerPeakRssBytes = 90_000_000,
            BrokerIdleRssBytes = 54_000_000,
            BrokerJoinedRssBytes = 86_000_000,
            BrokerRssPerClientBytes = 16_384,
        };

        Assert.Multiple(() =>
        {
            Assert.That(report.ToJson(), Does.Contain("""
                "brokerPeakRssBytes":90000000,"brokerIdleRssBytes":54000000,"brokerJoinedRssBytes":86000000,"brokerRssPerClientBytes":16384,"benchCpuSeconds":0,
                """));
            Assert.That(report.ToText(), Does.Contain("broker RSS:        51.5 MB idle, 82.0 MB joined: 16.00 KB per connection"));
        });
    }

    [Test]
    public void A_full_soak_report_keeps_its_names_order_nesting_and_rounding() =>
        Assert.That(FullSoak.ToJson(), Is.EqualTo("""
            {"broker":"in-process (its CPU is counted in the bench\u0027s)","inProcess":true,"clients":50,"senders":5,"rate":50.5,"churn":20,"durationSeconds":300,"sampleIntervalSeconds":10,"joinSeconds":0.1235,"joinedRssBytes":57000000,"joinedGcHeapBytes":11000000,"timeline":[{"elapsedSeconds":10,"final":false,"rssBytes":77000000,"gcHeapBytes":12000000,"brokerCpuSeconds":1.2346,"churned":400,"churnFailures":0,"deliveries":125000,"lost":0,"duplicated":0,"outOfOrder":0},{"elapsedSeconds":300.679,"final":true,"rssBytes":78000000,"gcHeapBytes":12500000,"brokerCpuSeconds":26.4,"churned":11981,"churnFailures":1,"deliveries":3750000,"lost":2,"duplicated":3,"outOfOrder":4}],"trafficSeconds":300.679,"churnConnections":11981,"churnGraceful":2995,"churnReset":2996,"churnHalfLine":2995,"churnNoHello":2994,"churnFailures":1,"firstChurnFailure":"c7 (Reset): refused","churnChatsSent":13464,"churnChatsSeen":673200,"expected":3750000,"received":3749999,"lost":2,"duplicated":3,"outOfOrder":4,"unexpected":5,"errorsReceived":6,"firstError":"{\u0022type\u0022:\u0022error\u0022,\u0022message\u0022:\u0022y\u0022}","stableDisconnected":7,"senderFailure":"broken pipe","latencyP50Ms":0.76,"latencyP99Ms":1.8,"latencyMaxMs":13.1,"brokerCpuSeconds":26.4123,"soakCpuSeconds":30.9877,"firstRssBytes":77000000,"lastRssBytes":78000000,"peakRssBytes":78500000,"settleSeconds":5,"settledRssBytes":78400000,"settledGcHeapBytes":12400000,"clean":false}
            """));

    [Test]
    public void An_unmeasured_soak_report_writes_unknowns_as_null_and_leaves_out_absent_failures() =>
        Assert.That(UnmeasuredSoak.ToJson(), Is.EqualTo("""
            {"broker":"external at 127.0.0.1:5000, pid unknown","inProcess":false,"clients":8,"senders":3,"rate":40,"churn":0,"durationSeconds":3,"sampleIntervalSeconds":1,"joinSeconds":0.05,"joinedRssBytes":null,"joinedGcHeapBytes":null,"timeline":[{"elapsedSeconds":3.2,"final":true,"rssBytes":null,"gcHeapBytes":null,"brokerCpuSeconds":null,"churned":0,"churnFailures":0,"deliveries":2880,"lost":0,"duplicated":0,"outOfOrder":0}],"trafficSeconds":3.2,"churnConnections":0,"churnGraceful":0,"churnReset":0,"churnHalfLine":0,"churnNoHello":0,"churnFailures":0,"churnChatsSent":0,"churnChatsSeen":0,"expected":2880,"received":2880,"lost":0,"duplicated":0,"outOfOrder":0,"unexpected":0,"errorsReceived":0,"stableDisconnected":0,"latencyP50Ms":0,"latencyP99Ms":0,"latencyMaxMs":0,"brokerCpuSeconds":null,"soakCpuSeconds":0.5,"firstRssBytes":null,"lastRssBytes":null,"peakRssBytes":null,"settleSeconds":0.5,"settledRssBytes":null,"settledGcHeapBytes":null,"clean":true}
            """));

    [Test]
    public void A_partial_rooms_bench_report_adds_its_fields_after_the_v1_ones() =>
        Assert.That(PartialRoomsBench.ToJson(), Is.EqualTo("""
            {"broker":"external at 127.0.0.1:5000, pid unknown","clients":20,"senders":2,"messages":500,"size":64,"rate":null,"silentClient":false,"joinOnly":false,"joinSeconds":0.25,"brokerJoinCpuSeconds":null,"benchJoinCpuSeconds":0.01,"expected":40,"received":30,"lost":10,"duplicated":0,"outOfOrder":0,"seconds":0,"deliveriesPerSecond":0,"latencyP50Ms":0,"latencyP90Ms":0,"latencyP99Ms":0,"latencyMaxMs":0,"brokerCpuSeconds":null,"brokerCpuPerMillionDeliveries":null,"brokerPeakRssBytes":null,"benchCpuSeconds":0,"benchCpuPerMillionDeliveries":null,"errorsReceived":0,"rooms":2,"roomDeliveries":[{"room":"bench-0","clients":2,"senders":1,"expected":20,"received":20,"lost":0},{"room":"bench-1","clients":2,"senders":1,"expected":20,"received":10,"lost":10}],"misrouted":0,"partial":true,"stopReason":"cancelled","sent":15}
            """));

    [Test]
    public void A_partial_soak_report_adds_partial_and_stop_reason_before_clean() =>
        Assert.That((FullSoak with { Partial = true, StopReason = "stalled: x" }).ToJson(), Is.EqualTo("""
            {"broker":"in-process (its CPU is counted in the bench\u0027s)","inProcess":true,"clients":50,"senders":5,"rate":50.5,"churn":20,"durationSeconds":300,"sampleIntervalSeconds":10,"joinSeconds":0.1235,"joinedRssBytes":57000000,"joinedGcHeapBytes":11000000,"timeline":[{"elapsedSeconds":10,"final":false,"rssBytes":77000000,"gcHeapBytes":12000000,"brokerCpuSeconds":1.2346,"churned":400,"churnFailures":0,"deliveries":125000,"lost":0,"duplicated":0,"outOfOrder":0},{"elapsedSeconds":300.679,"final":true,"rssBytes":78000000,"gcHeapBytes":12500000,"brokerCpuSeconds":26.4,"churned":11981,"churnFailures":1,"deliveries":3750000,"lost":2,"duplicated":3,"outOfOrder":4}],"trafficSeconds":300.679,"churnConnections":11981,"churnGraceful":2995,"churnReset":2996,"churnHalfLine":2995,"churnNoHello":2994,"churnFailures":1,"firstChurnFailure":"c7 (Reset): refused","churnChatsSent":13464,"churnChatsSeen":673200,"expected":3750000,"received":3749999,"lost":2,"duplicated":3,"outOfOrder":4,"unexpected":5,"errorsReceived":6,"firstError":"{\u0022type\u0022:\u0022error\u0022,\u0022message\u0022:\u0022y\u0022}","stableDisconnected":7,"senderFailure":"broken pipe","latencyP50Ms":0.76,"latencyP99Ms":1.8,"latencyMaxMs":13.1,"brokerCpuSeconds":26.4123,"soakCpuSeconds":30.9877,"firstRssBytes":77000000,"lastRssBytes":78000000,"peakRssBytes":78500000,"settleSeconds":5,"settledRssBytes":78400000,"settledGcHeapBytes":12400000,"partial":true,"stopReason":"stalled: x","clean":false}
            """));

    [Test]
    public void A_history_bench_report_keeps_its_names_order_and_leaves_out_the_other_workloads_fields()
    {
        var join = new HistoryBenchReport
        {
            Broker = "child process, pid 42",
            Workload = "join-history",
            Size = 100,
            Rooms = 1,
            ChatsPerRoom = 1000,
            FillSeconds = 0.123456,
            BrokerFillCpuSeconds = 0.2,
            Clients = 100,
            History = 1000,
            Expected = 100000,
            Replayed = 100000,
            ReplayedMin = 1000,
            JoinSeconds = 0.0384123,
            BrokerJoinCpuSeconds = 0.02,
            BrokerRssBeforeBytes = 57376768,
            BrokerRssAfterBytes = 71970816,
            BrokerPeakRssBytes = 71970816,
            Clean = true,
        };
        Assert.That(join.ToJson(), Is.EqualTo("""
            {"broker":"child process, pid 42","workload":"join-history","size":100,"rooms":1,"chatsPerRoom":1000,"fillSeconds":0.1235,"brokerFillCpuSeconds":0.2,"clients":100,"history":1000,"expected":100000,"replayed":100000,"replayedMin":1000,"joinSeconds":0.0384,"brokerJoinCpuSeconds":0.02,"brokerRssBeforeBytes":57376768,"brokerRssAfterBytes":71970816,"brokerPeakRssBytes":71970816,"clean":true}
            """));
        var fill = new HistoryBenchReport
        {
            Broker = "external at 127.0.0.1:5000, pid unknown",
            Workload = "fill-rooms",
            Size = 100,
            Rooms = 1000,
            ChatsPerRoom = 1000,
            FillSeconds = 5,
            KeptInFirstRoom = 0,
            KeptInLastRoom = 1000,
            Clean = true,
        };
        Assert.That(fill.ToJson(), Is.EqualTo("""
            {"broker":"external at 127.0.0.1:5000, pid unknown","workload":"fill-rooms","size":100,"rooms":1000,"chatsPerRoom":1000,"fillSeconds":5,"brokerFillCpuSeconds":null,"brokerRssBeforeBytes":null,"brokerRssAfterBytes":null,"brokerPeakRssBytes":null,"keptInFirstRoom":0,"keptInLastRoom":1000,"clean":true}
            """));
    }

    /// <summary>Every property of a report and of its timeline samples, with the JSON kinds it may take.</summary>
    [TestCase("bench")]
    [TestCase("partial rooms bench")]
    [TestCase("soak")]
    public void Every_property_has_the_documented_kind(string report)
    {
        using var json = JsonDocument.Parse(report switch
        {
            "bench" => FullBench.ToJson(),
            "partial rooms bench" => PartialRoomsBench.ToJson(),
            _ => (FullSoak with { Partial = true, StopReason = "cancelled" }).ToJson(),
        });
        foreach (var property in json.RootElement.EnumerateObject())
        {
            var kind = property.Value.ValueKind;
            var expected = property.Name switch
            {
                "broker" or "firstError" or "firstChurnFailure" or "senderFailure" or "stopReason" => JsonValueKind.String,
                "silentClient" or "joinOnly" or "inProcess" or "clean" or "direct" => kind is JsonValueKind.True or JsonValueKind.False ? kind : JsonValueKind.True,
                "partial" => JsonValueKind.True,
                "timeline" or "roomDeliveries" => JsonValueKind.Array,
                "rate" or "brokerJoinCpuSeconds" or "brokerCpuSeconds" or "brokerCpuPerMillionDeliveries" or "brokerPeakRssBytes"
                    or "benchCpuPerMillionDeliveries" or "joinedRssBytes" or "joinedGcHeapBytes" or "firstRssBytes" or "lastRssBytes"
                    or "peakRssBytes" or "settledRssBytes" or "settledGcHeapBytes" => kind is JsonValueKind.Null ? kind : JsonValueKind.Number,
                _ => JsonValueKind.Number,
            };
            Assert.That(kind, Is.EqualTo(expected), property.Name);
        }
    }
}
