using System.Diagnostics.Metrics;
using LocalChatMesh.Monitoring;
using LocalChatMesh.Tests.Support;

namespace LocalChatMesh.Tests.Monitoring;

/// <summary>The exporter's text for each kind of instrument, read back with a strict parser.</summary>
public class PrometheusExporterTests
{
    private Meter _meter = null!;
    private PrometheusExporter _exporter = null!;

    [SetUp]
    public void SetUp()
    {
        // A meter of this test's own: other tests' meters (and brokers) in the process are not listened to.
        _meter = new Meter("LocalChatMesh.Tests.Exporter." + TestContext.CurrentContext.Test.ID);
        var meter = _meter;
        _exporter = new PrometheusExporter();
        _exporter.Listen(instrument => ReferenceEquals(instrument.Meter, meter));
    }

    [TearDown]
    public void TearDown()
    {
        _exporter.Dispose();
        _meter.Dispose();
    }

    [Test]
    public void A_counter_is_a_counter_named_total_with_its_help_and_sum()
    {
        var counter = _meter.CreateCounter<long>("chatmesh.messages.received", "{message}", "Lines received from clients");
        counter.Add(2);
        counter.Add(3);

        var text = _exporter.Collect();
        var parsed = PrometheusText.Parse(text);

        Assert.That(text, Does.Contain("# HELP chatmesh_messages_received_total Lines received from clients\n# TYPE chatmesh_messages_received_total counter\nchatmesh_messages_received_total 5\n"));
        Assert.That(parsed.Types["chatmesh_messages_received_total"], Is.EqualTo("counter"));
    }

    [Test]
    public void Tags_become_sorted_escaped_labels_one_series_each()
    {
        var counter = _meter.CreateCounter<int>("chatmesh.disconnects");
        counter.Add(1, new KeyValuePair<string, object?>("reason", "client_closed"));
        counter.Add(1, new KeyValuePair<string, object?>("reason", "client_closed"));
        counter.Add(4, new KeyValuePair<string, object?>("reason", "slow_consumer"));
        counter.Add(1, new KeyValuePair<string, object?>("z.last", 7), new KeyValuePair<string, object?>("a.first", "quote \" back\\slash\nline"));

        var parsed = PrometheusText.Parse(_exporter.Collect());

        Assert.Multiple(() =>
        {
            Assert.That(parsed.Value("chatmesh_disconnects_total", ("reason", "client_closed")), Is.EqualTo(2));
            Assert.That(parsed.Value("chatmesh_disconnects_total", ("reason", "slow_consumer")), Is.EqualTo(4));
            Assert.That(parsed.Value("chatmesh_disconnects_total", ("a_first", "quote \" back\\slash\nline"), ("z_last", "7")), Is.EqualTo(1));
        });
        Assert.That(_exporter.Collect(), Does.Contain("chatmesh_disconnects_total{a_first=\"quote \\\" back\\\\slash\\nline\",z_last=\"7\"} 1\n"));
    }

    [Test]
    public void An_up_down_counter_is_a_gauge_of_its_sum()
    {
        var open = _meter.CreateUpDownCounter<long>("chatmesh.open", "{connection}", "Open now");
        open.Add(5);
        open.Add(-2);

        var parsed = PrometheusText.Parse(_exporter.Collect());

        Assert.That(parsed.Types["chatmesh_open"], Is.EqualTo("gauge"));
        Assert.That(parsed.Value("chatmesh_open"), Is.EqualTo(3));
    }

    [Test]
    public void A_gauge_shows_its_last_value_with_its_unit_in_words()
    {
        var gauge = _meter.CreateGauge<double>("chatmesh.temperature", "Cel");
        gauge.Record(21.5);
        gauge.Record(-3.25);

        var parsed = PrometheusText.Parse(_exporter.Collect());

        Assert.That(parsed.Types["chatmesh_temperature_celsius"], Is.EqualTo("gauge"));
        Assert.That(parsed.Value("chatmesh_temperature_celsius"), Is.EqualTo(-3.25));
    }

    [Test]
    public void Observable_instruments_report_what_their_callback_says_now()
    {
        var rooms = 3;
        var reasons = new List<string> { "a", "b" };
        _meter.CreateObservableUpDownCounter("chatmesh.rooms", () => rooms, "{room}", "Rooms");
        _meter.CreateObservableGauge("chatmesh.queue.bytes", () => 1024L, "By");
        _meter.CreateObservableCounter("chatmesh.cpu.time", () => reasons.Select(r => new Measurement<double>(1.5, new KeyValuePair<string, object?>("mode", r))), "s");

        var first = PrometheusText.Parse(_exporter.Collect());
        rooms = 1;
        reasons.Remove("a");
        var second = PrometheusText.Parse(_exporter.Collect());

        Assert.Multiple(() =>
        {
            Assert.That(first.Types["chatmesh_rooms"], Is.EqualTo("gauge"));
            Assert.That(first.Value("chatmesh_rooms"), Is.EqualTo(3));
            Assert.That(second.Value("chatmesh_rooms"), Is.EqualTo(1));
            Assert.That(first.Types["chatmesh_queue_bytes"], Is.EqualTo("gauge"), "the unit is in the name already: not chatmesh_queue_bytes_bytes");
            Assert.That(first.Value("chatmesh_queue_bytes"), Is.EqualTo(1024));
            Assert.That(first.Types["chatmesh_cpu_time_seconds_total"], Is.EqualTo("counter"));
            Assert.That(first.Value("chatmesh_cpu_time_seconds_total", ("mode", "a")), Is.EqualTo(1.5));
            Assert.That(second.Samples.Where(s => s.Name == "chatmesh_cpu_time_seconds_total").Select(s => s.Labels["mode"]), Is.EqualTo(new[] { "b" }), "a series the callback no longer reports is gone");
        });
    }

    [Test]
    public void A_histogram_has_cumulative_buckets_inclusive_at_the_bound_then_sum_and_count()
    {
        var histogram = _meter.CreateHistogram<double>("chatmesh.delivery.latency", "s", "Time to deliver", tags: null, new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.001, 0.01, 0.1] });
        foreach (var value in new[] { 0.0005, 0.001, 0.005, 0.05, 0.05, 3 })
        {
            histogram.Record(value, new KeyValuePair<string, object?>("room", "dev"));
        }

        var text = _exporter.Collect();
        var parsed = PrometheusText.Parse(text);

        Assert.Multiple(() =>
        {
            Assert.That(parsed.Types["chatmesh_delivery_latency_seconds"], Is.EqualTo("histogram"));
            Assert.That(parsed.Value("chatmesh_delivery_latency_seconds_bucket", ("room", "dev"), ("le", "0.001")), Is.EqualTo(2), "le is 'less than or equal'");
            Assert.That(parsed.Value("chatmesh_delivery_latency_seconds_bucket", ("room", "dev"), ("le", "0.01")), Is.EqualTo(3));
            Assert.That(parsed.Value("chatmesh_delivery_latency_seconds_bucket", ("room", "dev"), ("le", "0.1")), Is.EqualTo(5));
            Assert.That(parsed.Value("chatmesh_delivery_latency_seconds_bucket", ("room", "dev"), ("le", "+Inf")), Is.EqualTo(6));
            Assert.That(parsed.Value("chatmesh_delivery_latency_seconds_sum", ("room", "dev")), Is.EqualTo(3.1065).Within(1e-9));
            Assert.That(parsed.Value("chatmesh_delivery_latency_seconds_count", ("room", "dev")), Is.EqualTo(6));
        });
        Assert.That(text, Does.Contain("chatmesh_delivery_latency_seconds_bucket{room=\"dev\",le=\"+Inf\"} 6\n"));
    }

    [Test]
    public void A_histogram_without_advice_gets_default_buckets_for_its_unit()
    {
        _meter.CreateHistogram<long>("chatmesh.batch.size", "{message}").Record(42);
        _meter.CreateHistogram<double>("chatmesh.wait", "s").Record(0.2);

        var parsed = PrometheusText.Parse(_exporter.Collect());

        Assert.Multiple(() =>
        {
            Assert.That(parsed.Value("chatmesh_batch_size_bucket", ("le", "25")), Is.Zero);
            Assert.That(parsed.Value("chatmesh_batch_size_bucket", ("le", "50")), Is.EqualTo(1));
            Assert.That(parsed.Value("chatmesh_wait_seconds_bucket", ("le", "0.1")), Is.Zero);
            Assert.That(parsed.Value("chatmesh_wait_seconds_bucket", ("le", "0.25")), Is.EqualTo(1));
        });
    }

    [TestCase("chatmesh.bytes.sent", "By", "Counter", "chatmesh_bytes_sent_total")]
    [TestCase("chatmesh.sent", "By", "Counter", "chatmesh_sent_bytes_total")]
    [TestCase("chatmesh.sent.total", "By", "Counter", "chatmesh_sent_total_bytes_total")]
    [TestCase("chatmesh.requests.total", "{request}", "Counter", "chatmesh_requests_total")]
    [TestCase("chatmesh.rate", "{message}/s", "Gauge", "chatmesh_rate_per_second")]
    [TestCase("chatmesh.throughput", "By/s", "Gauge", "chatmesh_throughput_bytes_per_second")]
    [TestCase("chatmesh.usage", "1", "Gauge", "chatmesh_usage_ratio")]
    [TestCase("chatmesh.latency", "ms", "Histogram", "chatmesh_latency_milliseconds")]
    [TestCase("http.server-requests..count", null, "Gauge", "http_server_requests_count")]
    [TestCase("2xx.responses", "", "Gauge", "_2xx_responses")]
    [TestCase("ns:weird/name", null, "Gauge", "ns:weird_name")]
    public void Names_are_sanitised_and_carry_their_unit_and_type_suffix(string instrument, string? unit, string type, string expected) =>
        Assert.That(PrometheusExporter.MetricName(instrument, unit, Enum.Parse<PrometheusType>(type)), Is.EqualTo(expected));

    [Test]
    public void Odd_values_and_help_text_are_written_as_the_format_wants()
    {
        var gauge = _meter.CreateGauge<double>("chatmesh.odd", unit: null, "line one\nback\\slash");
        gauge.Record(double.NaN, new KeyValuePair<string, object?>("v", "nan"));
        gauge.Record(double.PositiveInfinity, new KeyValuePair<string, object?>("v", "inf"));
        gauge.Record(double.NegativeInfinity, new KeyValuePair<string, object?>("v", "-inf"));
        gauge.Record(1e300, new KeyValuePair<string, object?>("v", "big"));
        gauge.Record(0.1, new KeyValuePair<string, object?>("v", "small"));

        var text = _exporter.Collect();
        var parsed = PrometheusText.Parse(text);

        Assert.Multiple(() =>
        {
            Assert.That(text, Does.Contain("# HELP chatmesh_odd line one\\nback\\\\slash\n"));
            Assert.That(parsed.Help["chatmesh_odd"], Is.EqualTo("line one\nback\\slash"));
            Assert.That(parsed.Value("chatmesh_odd", ("v", "nan")), Is.NaN);
            Assert.That(parsed.Value("chatmesh_odd", ("v", "inf")), Is.EqualTo(double.PositiveInfinity));
            Assert.That(parsed.Value("chatmesh_odd", ("v", "-inf")), Is.EqualTo(double.NegativeInfinity));
            Assert.That(parsed.Value("chatmesh_odd", ("v", "big")), Is.EqualTo(1e300));
            Assert.That(text, Does.Contain("chatmesh_odd{v=\"small\"} 0.1\n"));
        });
    }

    [Test]
    public void Every_numeric_type_is_heard()
    {
        _meter.CreateCounter<byte>("t.byte").Add(1);
        _meter.CreateCounter<short>("t.short").Add(2);
        _meter.CreateCounter<int>("t.int").Add(3);
        _meter.CreateCounter<long>("t.long").Add(4);
        _meter.CreateCounter<float>("t.float").Add(0.5f);
        _meter.CreateCounter<double>("t.double").Add(0.25);
        _meter.CreateCounter<decimal>("t.decimal").Add(1.5m);

        var parsed = PrometheusText.Parse(_exporter.Collect());

        Assert.That(
            new[] { "byte", "short", "int", "long", "float", "double", "decimal" }.Select(kind => parsed.Value($"t_{kind}_total")),
            Is.EqualTo(new[] { 1, 2, 3, 4, 0.5, 0.25, 1.5 }));
    }

    [Test]
    public void A_sync_instrument_shows_its_type_before_it_is_used_and_a_disposed_meter_disappears()
    {
        _meter.CreateCounter<long>("chatmesh.unused", "{x}", "Never added to");
        var before = PrometheusText.Parse(_exporter.Collect());

        _meter.Dispose();
        var after = PrometheusText.Parse(_exporter.Collect());

        Assert.That(before.Types, Does.ContainKey("chatmesh_unused_total"));
        Assert.That(before.Samples, Is.Empty);
        Assert.That(after.Types, Is.Empty);
    }

    [Test]
    public void The_test_parser_refuses_what_the_format_forbids()
    {
        Assert.Multiple(() =>
        {
            Assert.That(() => PrometheusText.Parse("x 1\n"), Throws.TypeOf<FormatException>(), "no TYPE");
            Assert.That(() => PrometheusText.Parse("# TYPE x gauge\nx{a=\"1\" 1\n"), Throws.TypeOf<FormatException>(), "unclosed labels");
            Assert.That(() => PrometheusText.Parse("# TYPE x gauge\nx one\n"), Throws.TypeOf<FormatException>(), "not a number");
            Assert.That(() => PrometheusText.Parse("# TYPE x gauge\nx 1\n# TYPE y gauge\ny 1\nx{a=\"b\"} 2\n"), Throws.TypeOf<FormatException>(), "family split");
            Assert.That(() => PrometheusText.Parse("# TYPE x gauge\nx 1\nx 2\n"), Throws.TypeOf<FormatException>(), "series twice");
            Assert.That(() => PrometheusText.Parse("# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n"), Throws.TypeOf<FormatException>(), "not cumulative");
            Assert.That(() => PrometheusText.Parse("# TYPE x gauge\nx 1"), Throws.TypeOf<FormatException>(), "no final line feed");
            Assert.That(PrometheusText.Parse("# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 2\n").Samples, Has.Count.EqualTo(4));
        });
    }
}
