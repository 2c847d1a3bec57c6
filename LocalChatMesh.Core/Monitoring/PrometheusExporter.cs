using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;

namespace LocalChatMesh.Monitoring;

/// <summary>
/// Keeps what <see cref="MeterListener"/>s hear and writes it in the Prometheus text exposition
/// format, version 0.0.4: a <c># HELP</c> and <c># TYPE</c> line per metric, then its samples.
/// Counters (sync and observable) become <c>counter</c>s named <c>..._total</c>; up-down counters
/// and gauges become <c>gauge</c>s; histograms become <c>histogram</c>s with cumulative
/// <c>_bucket{le=...}</c>, <c>_sum</c> and <c>_count</c>. Names follow OpenTelemetry's Prometheus
/// compatibility rules: dots and other characters become <c>_</c>, the unit is appended in words
/// unless the name has it already (<c>By</c> as <c>bytes</c>, <c>s</c> as <c>seconds</c>,
/// annotations such as <c>{connection}</c> dropped), tags become labels.
/// </summary>
/// <remarks>
/// A sync instrument's sum counts what was measured since its listener started. Observable
/// instruments are read on every <see cref="Collect"/>, so only what they report now is shown.
/// </remarks>
internal sealed class PrometheusExporter : IDisposable
{
    /// <summary>The Content-Type of <see cref="Collect"/>'s text.</summary>
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    private readonly Lock _gate = new();
    private readonly Lock _collecting = new();
    private readonly List<MeterListener> _listeners = [];
    private readonly Dictionary<Instrument, Metric> _metrics = [];
    private readonly StringBuilder _text = new(8192);
    private int _version;
    private int _orderedVersion = -1;
    private Metric[][] _families = [];
    private bool _disposed;

    /// <summary>Starts listening to every instrument, published or to come, that <paramref name="include"/> accepts.</summary>
    public void Listen(Func<Instrument, bool> include)
    {
        ArgumentNullException.ThrowIfNull(include);
        var listener = new MeterListener
        {
            InstrumentPublished = (instrument, listener) =>
            {
                if (include(instrument) && Metric.Create(instrument) is { } metric)
                {
                    lock (_gate)
                    {
                        _metrics[instrument] = metric;
                        _version++;
                    }

                    listener.EnableMeasurementEvents(instrument, metric);
                }
            },
            MeasurementsCompleted = (instrument, state) =>
            {
                lock (_gate)
                {
                    if (_metrics.TryGetValue(instrument, out var metric) && ReferenceEquals(metric, state))
                    {
                        _metrics.Remove(instrument);
                        _version++;
                    }
                }
            },
        };
        listener.SetMeasurementEventCallback<byte>(static (_, value, tags, state) => ((Metric)state!).Record(value, tags));
        listener.SetMeasurementEventCallback<short>(static (_, value, tags, state) => ((Metric)state!).Record(value, tags));
        listener.SetMeasurementEventCallback<int>(static (_, value, tags, state) => ((Metric)state!).Record(value, tags));
        listener.SetMeasurementEventCallback<long>(static (_, value, tags, state) => ((Metric)state!).Record(value, tags));
        listener.SetMeasurementEventCallback<float>(static (_, value, tags, state) => ((Metric)state!).Record(value, tags));
        listener.SetMeasurementEventCallback<double>(static (_, value, tags, state) => ((Metric)state!).Record(value, tags));
        listener.SetMeasurementEventCallback<decimal>(static (_, value, tags, state) => ((Metric)state!).Record((double)value, tags));
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _listeners.Add(listener);
        }

        listener.Start();
    }

    /// <summary>Reads the observable instruments and returns every metric as Prometheus text.</summary>
    public string Collect()
    {
        lock (_collecting)
        {
            MeterListener[] listeners;
            lock (_gate)
            {
                listeners = [.. _listeners];
                if (_orderedVersion != _version)
                {
                    // One family per name, in name order; a second instrument of another type under
                    // the same name would make the exposition invalid, so the first one wins.
                    _families = [.. _metrics.Values
                        .GroupBy(metric => metric.Name, StringComparer.Ordinal)
                        .OrderBy(group => group.Key, StringComparer.Ordinal)
                        .Select(group => group.Where(metric => metric.Type == group.First().Type).ToArray())];
                    _orderedVersion = _version;
                }
            }

            var families = _families;
            foreach (var family in families)
            {
                foreach (var metric in family)
                {
                    metric.BeginObservation();
                }
            }

            foreach (var listener in listeners)
            {
                try
                {
                    listener.RecordObservableInstruments();
                }
                catch (AggregateException)
                {
                    // An observable callback threw: the others were read, that instrument shows no sample.
                }
            }

            var text = _text.Clear();
            foreach (var family in families)
            {
                var first = family[0];
                if (first.Help.Length > 0)
                {
                    text.Append("# HELP ").Append(first.Name).Append(' ').Append(first.EscapedHelp).Append('\n');
                }

                text.Append("# TYPE ").Append(first.Name).Append(' ').Append(first.TypeName).Append('\n');
                foreach (var metric in family)
                {
                    metric.WriteSamples(text);
                }
            }

            var result = text.ToString();
            if (text.Capacity > 256 * 1024)
            {
                text.Capacity = 8192;
            }

            return result;
        }
    }

    public void Dispose()
    {
        MeterListener[] listeners;
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            listeners = [.. _listeners];
            _listeners.Clear();
        }

        foreach (var listener in listeners)
        {
            listener.Dispose();
        }
    }

    /// <summary>The Prometheus name of an instrument of this type: sanitised, with its unit and, for counters, <c>_total</c>.</summary>
    internal static string MetricName(string instrumentName, string? unit, PrometheusType type)
    {
        var name = Sanitize(instrumentName, allowColon: true);
        var suffix = UnitSuffix(unit);
        if (suffix.Length > 0 && !HasWord(name, suffix))
        {
            name += "_" + suffix;
        }

        if (type == PrometheusType.Gauge && unit == "1" && !HasWord(name, "ratio"))
        {
            name += "_ratio";
        }

        if (type == PrometheusType.Counter && !name.EndsWith("_total", StringComparison.Ordinal))
        {
            name += "_total";
        }

        return name;
    }

    /// <summary>A label name: letters, digits and <c>_</c>, not starting with a digit.</summary>
    internal static string LabelName(string key) => Sanitize(key, allowColon: false);

    /// <summary>A sample value: shortest round-trip decimal, or <c>NaN</c>, <c>+Inf</c>, <c>-Inf</c>.</summary>
    internal static string FormatValue(double value) =>
        double.IsNaN(value) ? "NaN"
        : double.IsPositiveInfinity(value) ? "+Inf"
        : double.IsNegativeInfinity(value) ? "-Inf"
        : value.ToString("R", CultureInfo.InvariantCulture);

    internal static string EscapeLabelValue(string value) =>
        value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);

    internal static string EscapeHelp(string help) =>
        help.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);

    private static string Sanitize(string text, bool allowColon)
    {
        var result = new StringBuilder(text.Length + 1);
        foreach (var c in text)
        {
            var valid = char.IsAsciiLetterOrDigit(c) || (allowColon && c == ':');
            if (valid)
            {
                if (result.Length == 0 && char.IsAsciiDigit(c))
                {
                    result.Append('_');
                }

                result.Append(c);
            }
            else if (result.Length == 0 || result[^1] != '_')
            {
                result.Append('_');
            }
        }

        return result.Length == 0 ? "_" : result.ToString();
    }

    private static bool HasWord(string name, string word) =>
        ("_" + name + "_").Contains("_" + word + "_", StringComparison.Ordinal);

    private static string UnitSuffix(string? unit)
    {
        if (string.IsNullOrWhiteSpace(unit))
        {
            return "";
        }

        // {connection}, {message}: a count of things is unitless in Prometheus.
        var bare = new StringBuilder(unit.Length);
        var depth = 0;
        foreach (var c in unit)
        {
            if (c == '{')
            {
                depth++;
            }
            else if (c == '}' && depth > 0)
            {
                depth--;
            }
            else if (depth == 0)
            {
                bare.Append(c);
            }
        }

        var text = bare.ToString().Trim();
        var slash = text.IndexOf('/', StringComparison.Ordinal);
        var words = slash >= 0 && slash < text.Length - 1
            ? (Words(text[..slash]) is { Length: > 0 } per ? per + "_" : "") + "per_" + PerWords(text[(slash + 1)..])
            : Words(text);
        return words.Length == 0 ? "" : Sanitize(words, allowColon: false).Trim('_');
    }

    private static string Words(string unit) => unit switch
    {
        "d" => "days",
        "h" => "hours",
        "min" => "minutes",
        "s" => "seconds",
        "ms" => "milliseconds",
        "us" => "microseconds",
        "ns" => "nanoseconds",
        "By" or "B" => "bytes",
        "KiBy" => "kibibytes",
        "MiBy" => "mebibytes",
        "GiBy" => "gibibytes",
        "KBy" or "KB" => "kilobytes",
        "MBy" or "MB" => "megabytes",
        "GBy" or "GB" => "gigabytes",
        "bit" => "bits",
        "m" => "meters",
        "V" => "volts",
        "A" => "amperes",
        "J" => "joules",
        "W" => "watts",
        "g" => "grams",
        "Cel" => "celsius",
        "Hz" => "hertz",
        "%" => "percent",
        "1" => "",
        _ => unit,
    };

    private static string PerWords(string unit) => unit switch
    {
        "s" => "second",
        "min" => "minute",
        "h" => "hour",
        "d" => "day",
        "w" => "week",
        _ => Words(unit),
    };
}

/// <summary>The metric types of the text format that the exporter writes.</summary>
internal enum PrometheusType
{
    Counter,
    Gauge,
    Histogram,
}

/// <summary>One instrument's state: its series by label set, summed, last-valued or bucketed.</summary>
internal sealed class Metric
{
    private static readonly double[] DefaultBounds = [0, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 7500, 10000];
    private static readonly double[] DefaultSecondsBounds = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];

    private readonly Lock _gate = new();
    private readonly Aggregation _aggregation;
    private readonly double[] _bounds;
    private readonly SortedDictionary<string, Series> _series = new(StringComparer.Ordinal);
    private readonly string[] _bucketNames;
    private readonly string[] _suffixed;
    private readonly Dictionary<(string Key, string Value), string> _singleTagLabels = [];
    private Series? _untagged;
    private long _observation;

    private Metric(string instrumentName, string? unit, string? description, PrometheusType type, Aggregation aggregation, double[] bounds)
    {
        Type = type;
        _aggregation = aggregation;
        _bounds = bounds;
        Name = PrometheusExporter.MetricName(instrumentName, unit, type);
        Help = description ?? "";
        EscapedHelp = PrometheusExporter.EscapeHelp(Help);
        _bucketNames = [.. bounds.Select(PrometheusExporter.FormatValue), "+Inf"];
        _suffixed = aggregation == Aggregation.Histogram ? [Name + "_bucket", Name + "_sum", Name + "_count"] : [];
    }

    private enum Aggregation
    {
        /// <summary>Counter, UpDownCounter: measurements add up.</summary>
        Sum,

        /// <summary>Gauge: the last measurement.</summary>
        LastValue,

        /// <summary>Observable instruments: what the last observation reported.</summary>
        Observed,

        /// <summary>Histogram: buckets, sum and count.</summary>
        Histogram,
    }

    public string Name { get; }

    public string Help { get; }

    public string EscapedHelp { get; }

    public PrometheusType Type { get; }

    public string TypeName => Type switch
    {
        PrometheusType.Counter => "counter",
        PrometheusType.Histogram => "histogram",
        _ => "gauge",
    };

    /// <summary>The state for an instrument of a kind the text format has, or null for another kind.</summary>
    public static Metric? Create(Instrument instrument)
    {
        var kind = instrument.GetType();
        if (!kind.IsGenericType)
        {
            return null;
        }

        var definition = kind.GetGenericTypeDefinition();
        (PrometheusType Type, Aggregation Aggregation)? shape =
            definition == typeof(Counter<>) ? (PrometheusType.Counter, Aggregation.Sum)
            : definition == typeof(UpDownCounter<>) ? (PrometheusType.Gauge, Aggregation.Sum)
            : definition == typeof(Gauge<>) ? (PrometheusType.Gauge, Aggregation.LastValue)
            : definition == typeof(Histogram<>) ? (PrometheusType.Histogram, Aggregation.Histogram)
            : definition == typeof(ObservableCounter<>) ? (PrometheusType.Counter, Aggregation.Observed)
            : definition == typeof(ObservableUpDownCounter<>) ? (PrometheusType.Gauge, Aggregation.Observed)
            : definition == typeof(ObservableGauge<>) ? (PrometheusType.Gauge, Aggregation.Observed)
            : null;
        if (shape is not { } known)
        {
            return null;
        }

        // The runtime publishes these two current counts as monotonic counters (dotnet/runtime#112077, #126167).
        if (known.Aggregation == Aggregation.Observed && instrument.Meter.Name == "System.Runtime"
            && instrument.Name is "dotnet.thread_pool.thread.count" or "dotnet.thread_pool.queue.length")
        {
            known = (PrometheusType.Gauge, Aggregation.Observed);
        }

        var bounds = known.Aggregation == Aggregation.Histogram
            ? AdvisedBounds(instrument) ?? (instrument.Unit == "s" ? DefaultSecondsBounds : DefaultBounds)
            : [];
        return new Metric(instrument.Name, instrument.Unit, instrument.Description, known.Type, known.Aggregation, bounds);
    }

    /// <summary>Forgets the observable instruments' series before they are read again.</summary>
    public void BeginObservation()
    {
        if (_aggregation != Aggregation.Observed)
        {
            return;
        }

        lock (_gate)
        {
            // Series are kept (and reused) but written only if this observation reports them.
            _observation++;
            if (_series.Count > 0 && _series.Values.Any(series => series.Observation < _observation - 1))
            {
                foreach (var stale in _series.Where(pair => pair.Value.Observation < _observation - 1).Select(pair => pair.Key).ToList())
                {
                    _series.Remove(stale);
                }
            }
        }
    }

    public void Record(double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        lock (_gate)
        {
            string labels;
            if (tags.IsEmpty)
            {
                labels = "";
            }
            else if (tags.Length == 1 && tags[0].Value is string value1)
            {
                // The usual tag (reason, check, gc.heap.generation): its label text is kept, not rebuilt per measurement.
                if (!_singleTagLabels.TryGetValue((tags[0].Key, value1), out labels!))
                {
                    labels = Labels(tags);
                    if (_singleTagLabels.Count < 1024)
                    {
                        _singleTagLabels.Add((tags[0].Key, value1), labels);
                    }
                }
            }
            else
            {
                labels = Labels(tags);
            }

            Series series;
            if (labels.Length == 0)
            {
                series = _untagged ??= new Series("", _bounds.Length);
            }
            else if (!_series.TryGetValue(labels, out series!))
            {
                series = new Series(labels, _bounds.Length);
                _series.Add(labels, series);
            }

            series.Observation = _observation;
            switch (_aggregation)
            {
                case Aggregation.Sum:
                    series.Value += value;
                    break;
                case Aggregation.LastValue:
                case Aggregation.Observed:
                    series.Value = value;
                    break;
                default:
                    if (double.IsNaN(value))
                    {
                        return;
                    }

                    var bucket = Array.BinarySearch(_bounds, value);
                    series.Buckets[bucket >= 0 ? bucket : ~bucket]++;
                    series.Value += value;
                    series.Count++;
                    break;
            }
        }
    }

    public void WriteSamples(StringBuilder text)
    {
        lock (_gate)
        {
            if (_untagged is { } untagged && Current(untagged))
            {
                Write(text, untagged);
            }

            foreach (var series in _series.Values)
            {
                if (Current(series))
                {
                    Write(text, series);
                }
            }
        }
    }

    /// <summary>For an observable instrument, whether the last observation reported the series.</summary>
    private bool Current(Series series) => _aggregation != Aggregation.Observed || series.Observation == _observation;

    private void Write(StringBuilder text, Series series)
    {
        if (_aggregation != Aggregation.Histogram)
        {
            Sample(text, Name, series.Labels, null, series.Value);
            return;
        }

        long cumulative = 0;
        for (var i = 0; i < _bounds.Length; i++)
        {
            cumulative += series.Buckets[i];
            Sample(text, _suffixed[0], series.Labels, _bucketNames[i], cumulative);
        }

        Sample(text, _suffixed[0], series.Labels, _bucketNames[^1], series.Count);
        Sample(text, _suffixed[1], series.Labels, null, series.Value);
        Sample(text, _suffixed[2], series.Labels, null, series.Count);
    }

    private static void Sample(StringBuilder text, string name, string labels, string? le, double value)
    {
        text.Append(name);
        if (labels.Length > 0 || le is not null)
        {
            text.Append('{').Append(labels);
            if (le is not null)
            {
                text.Append(labels.Length > 0 ? "," : "").Append("le=\"").Append(le).Append('"');
            }

            text.Append('}');
        }

        text.Append(' ');
        if (double.IsFinite(value))
        {
            text.Append(CultureInfo.InvariantCulture, $"{value:R}");
        }
        else
        {
            text.Append(PrometheusExporter.FormatValue(value));
        }

        text.Append('\n');
    }

    /// <summary><c>a="1",b="2"</c>: sanitised names in order, values escaped; keys that sanitise alike are joined with <c>;</c>.</summary>
    private static string Labels(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var pairs = new List<(string Name, string Value)>(tags.Length);
        foreach (var tag in tags)
        {
            pairs.Add((PrometheusExporter.LabelName(tag.Key), tag.Value switch
            {
                null => "",
                string text => text,
                bool flag => flag ? "true" : "false",
                IFormattable formattable => formattable.ToString(null, CultureInfo.InvariantCulture),
                var other => other.ToString() ?? "",
            }));
        }

        return string.Join(',', pairs
            .GroupBy(pair => pair.Name, StringComparer.Ordinal)
            .OrderBy(group => group.Key, StringComparer.Ordinal)
            .Select(group => $"{group.Key}=\"{PrometheusExporter.EscapeLabelValue(string.Join(';', group.Select(pair => pair.Value)))}\""));
    }

    private static double[]? AdvisedBounds(Instrument instrument) => instrument switch
    {
        Histogram<byte> h => Sorted(h.Advice?.HistogramBucketBoundaries?.Select(b => (double)b)),
        Histogram<short> h => Sorted(h.Advice?.HistogramBucketBoundaries?.Select(b => (double)b)),
        Histogram<int> h => Sorted(h.Advice?.HistogramBucketBoundaries?.Select(b => (double)b)),
        Histogram<long> h => Sorted(h.Advice?.HistogramBucketBoundaries?.Select(b => (double)b)),
        Histogram<float> h => Sorted(h.Advice?.HistogramBucketBoundaries?.Select(b => (double)b)),
        Histogram<double> h => Sorted(h.Advice?.HistogramBucketBoundaries),
        Histogram<decimal> h => Sorted(h.Advice?.HistogramBucketBoundaries?.Select(b => (double)b)),
        _ => null,
    };

    private static double[]? Sorted(IEnumerable<double>? bounds) =>
        bounds is null ? null : [.. bounds.Where(double.IsFinite).Distinct().Order()];

    private sealed class Series(string labels, int bounds)
    {
        public string Labels { get; } = labels;

        /// <summary>The sum, last value or (histogram) sum of the measurements.</summary>
        public double Value { get; set; }

        public long Count { get; set; }

        /// <summary>For an observable instrument, the observation that last reported it.</summary>
        public long Observation { get; set; }

        /// <summary>Per bucket, not cumulative; the last one is above every bound.</summary>
        public long[] Buckets { get; } = new long[bounds + 1];
    }
}
