using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace LocalChatMesh.Tests.Support;

/// <summary>
/// A strict reader of the Prometheus text exposition format 0.0.4, written from the format's
/// description for the tests: it throws <see cref="FormatException"/> (with the line) on anything
/// a Prometheus server would refuse or that the format forbids: a sample line that is not
/// <c>name{labels} value</c>, a metric with no <c># TYPE</c> before its samples, a TYPE given twice
/// or after the samples, a family's samples not together, a label given twice in one sample, the
/// same series twice, histogram buckets that are not cumulative or whose <c>+Inf</c> bucket
/// differs from <c>_count</c>.
/// </summary>
internal sealed partial class PrometheusText
{
    private static readonly string[] HistogramSuffixes = ["_bucket", "_sum", "_count"];

    private PrometheusText(IReadOnlyDictionary<string, string> types, IReadOnlyDictionary<string, string> help, IReadOnlyList<Sample> samples)
    {
        Types = types;
        Help = help;
        Samples = samples;
    }

    /// <summary>Each metric family's TYPE: counter, gauge, histogram, summary or untyped.</summary>
    public IReadOnlyDictionary<string, string> Types { get; }

    /// <summary>Each family's HELP text, unescaped.</summary>
    public IReadOnlyDictionary<string, string> Help { get; }

    public IReadOnlyList<Sample> Samples { get; }

    /// <summary>The value of the one sample with this name and exactly these labels.</summary>
    public double Value(string name, params (string Name, string Value)[] labels)
    {
        var wanted = labels.ToDictionary(label => label.Name, label => label.Value);
        var matches = Samples.Where(sample => sample.Name == name && sample.Labels.Count == wanted.Count && wanted.All(label => sample.Labels.TryGetValue(label.Key, out var value) && value == label.Value)).ToList();
        return matches.Count == 1
            ? matches[0].Value
            : throw new AssertionException($"{matches.Count} samples named {name} with labels {{{string.Join(",", labels.Select(l => $"{l.Name}=\"{l.Value}\""))}}}; samples of that name: {string.Join("; ", Samples.Where(s => s.Name == name))}");
    }

    public static PrometheusText Parse(string text)
    {
        if (text.Length > 0 && !text.EndsWith('\n'))
        {
            throw new FormatException("the exposition does not end with a line feed");
        }

        var types = new Dictionary<string, string>(StringComparer.Ordinal);
        var help = new Dictionary<string, string>(StringComparer.Ordinal);
        var samples = new List<Sample>();
        var finished = new HashSet<string>(StringComparer.Ordinal);
        var series = new HashSet<string>(StringComparer.Ordinal);
        var sampled = new HashSet<string>(StringComparer.Ordinal);
        string? current = null;
        foreach (var line in text.Split('\n').SkipLast(1))
        {
            if (line.Contains('\r', StringComparison.Ordinal))
            {
                throw new FormatException($"a carriage return in: {line}");
            }

            if (line.StartsWith('#'))
            {
                var comment = Comment().Match(line);
                if (!comment.Success)
                {
                    continue; // Any other comment is allowed and ignored.
                }

                var name = comment.Groups["name"].Value;
                var body = comment.Groups["body"].Value;
                if (comment.Groups["kind"].Value == "TYPE")
                {
                    if (body is not ("counter" or "gauge" or "histogram" or "summary" or "untyped"))
                    {
                        throw new FormatException($"unknown type: {line}");
                    }

                    if (!types.TryAdd(name, body))
                    {
                        throw new FormatException($"a second TYPE line for {name}: {line}");
                    }

                    if (sampled.Contains(name))
                    {
                        throw new FormatException($"TYPE after samples of {name}: {line}");
                    }
                }
                else if (!help.TryAdd(name, Unescape(body, allowQuote: false, line)))
                {
                    throw new FormatException($"a second HELP line for {name}: {line}");
                }

                Switch(name);
                continue;
            }

            if (line.Length == 0)
            {
                continue;
            }

            var sample = ParseSample(line);
            var family = FamilyOf(sample.Name, types) ?? throw new FormatException($"no TYPE line for the family of {sample.Name}: {line}");
            Switch(family);
            sampled.Add(family);
            var key = sample.Name + "{" + string.Join(",", sample.Labels.OrderBy(l => l.Key, StringComparer.Ordinal).Select(l => l.Key + "=" + l.Value)) + "}";
            if (!series.Add(key))
            {
                throw new FormatException($"the same series twice: {line}");
            }

            samples.Add(sample with { Family = family });
        }

        CheckHistograms(types, samples);
        return new PrometheusText(types, help, samples);

        void Switch(string family)
        {
            if (current == family)
            {
                return;
            }

            if (finished.Contains(family))
            {
                throw new FormatException($"the lines of {family} are not together");
            }

            if (current is not null)
            {
                finished.Add(current);
            }

            current = family;
        }
    }

    private static string? FamilyOf(string name, Dictionary<string, string> types)
    {
        if (types.ContainsKey(name))
        {
            return name;
        }

        foreach (var suffix in HistogramSuffixes)
        {
            if (name.EndsWith(suffix, StringComparison.Ordinal)
                && types.TryGetValue(name[..^suffix.Length], out var type)
                && (type == "histogram" || (type == "summary" && suffix != "_bucket")))
            {
                return name[..^suffix.Length];
            }
        }

        return null;
    }

    private static Sample ParseSample(string line)
    {
        var match = SampleLine().Match(line);
        if (!match.Success)
        {
            throw new FormatException($"not a sample line 'name{{labels}} value [timestamp]': {line}");
        }

        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        var text = match.Groups["labels"].Value;
        var at = 0;
        while (at < text.Length)
        {
            var label = LabelStart().Match(text, at);
            if (!label.Success || label.Index != at)
            {
                throw new FormatException($"a malformed label at '{text[at..]}': {line}");
            }

            at += label.Length;
            var value = new StringBuilder();
            while (true)
            {
                if (at >= text.Length)
                {
                    throw new FormatException($"an unterminated label value: {line}");
                }

                var c = text[at++];
                if (c == '"')
                {
                    break;
                }

                value.Append(c);
                if (c == '\\')
                {
                    if (at >= text.Length)
                    {
                        throw new FormatException($"an unterminated escape: {line}");
                    }

                    value.Append(text[at++]);
                }
            }

            var name = label.Groups["name"].Value;
            if (name.StartsWith("__", StringComparison.Ordinal))
            {
                throw new FormatException($"a reserved label name {name}: {line}");
            }

            if (!labels.TryAdd(name, Unescape(value.ToString(), allowQuote: true, line)))
            {
                throw new FormatException($"label {name} twice: {line}");
            }

            if (at < text.Length)
            {
                if (text[at] != ',')
                {
                    throw new FormatException($"labels not separated by commas: {line}");
                }

                at++;
            }
        }

        return new Sample(match.Groups["name"].Value, labels, ParseValue(match.Groups["value"].Value, line), "");
    }

    private static double ParseValue(string text, string line) => text switch
    {
        "NaN" => double.NaN,
        "+Inf" => double.PositiveInfinity,
        "-Inf" => double.NegativeInfinity,
        _ when FloatValue().IsMatch(text) => double.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture),
        _ => throw new FormatException($"not a value: '{text}' in {line}"),
    };

    private static string Unescape(string text, bool allowQuote, string line)
    {
        var result = new StringBuilder(text.Length);
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] != '\\')
            {
                result.Append(text[i]);
                continue;
            }

            result.Append(++i < text.Length ? text[i] switch
            {
                '\\' => '\\',
                'n' => '\n',
                '"' when allowQuote => '"',
                _ => throw new FormatException($"an unknown escape '\\{text[i]}' in {line}"),
            } : throw new FormatException($"a lone backslash in {line}"));
        }

        return result.ToString();
    }

    private static void CheckHistograms(Dictionary<string, string> types, List<Sample> samples)
    {
        foreach (var family in types.Where(type => type.Value == "histogram").Select(type => type.Key))
        {
            var bySeries = samples.Where(sample => sample.Family == family).GroupBy(sample => string.Join(",", sample.Labels.Where(l => l.Key != "le").OrderBy(l => l.Key, StringComparer.Ordinal).Select(l => l.Key + "=" + l.Value)));
            foreach (var one in bySeries)
            {
                var buckets = one.Where(sample => sample.Name == family + "_bucket")
                    .Select(sample => (Le: sample.Labels.TryGetValue("le", out var le) ? ParseValue(le, family) : throw new FormatException($"a bucket of {family} without le"), sample.Value))
                    .ToList();
                var count = one.SingleOrDefault(sample => sample.Name == family + "_count") ?? throw new FormatException($"{family}{{{one.Key}}} has no _count");
                _ = one.SingleOrDefault(sample => sample.Name == family + "_sum") ?? throw new FormatException($"{family}{{{one.Key}}} has no _sum");
                if (buckets.Count == 0 || !double.IsPositiveInfinity(buckets[^1].Le))
                {
                    throw new FormatException($"{family}{{{one.Key}}} does not end with a +Inf bucket");
                }

                for (var i = 1; i < buckets.Count; i++)
                {
                    if (buckets[i].Le <= buckets[i - 1].Le || buckets[i].Value < buckets[i - 1].Value)
                    {
                        throw new FormatException($"{family}{{{one.Key}}}: buckets not in order or not cumulative at le={buckets[i].Le}");
                    }
                }

                if (buckets[^1].Value != count.Value)
                {
                    throw new FormatException($"{family}{{{one.Key}}}: the +Inf bucket is {buckets[^1].Value} and _count {count.Value}");
                }
            }
        }
    }

    [GeneratedRegex(@"^# (?<kind>HELP|TYPE) (?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?: (?<body>.*))?$")]
    private static partial Regex Comment();

    [GeneratedRegex(@"^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?<labels>[^\n]*)\})? (?<value>\S+)(?: -?[0-9]+)?$")]
    private static partial Regex SampleLine();

    [GeneratedRegex(@"(?<name>[a-zA-Z_][a-zA-Z0-9_]*)=""")]
    private static partial Regex LabelStart();

    [GeneratedRegex(@"^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$")]
    private static partial Regex FloatValue();

    internal sealed record Sample(string Name, IReadOnlyDictionary<string, string> Labels, double Value, string Family)
    {
        public override string ToString() =>
            $"{Name}{{{string.Join(",", Labels.Select(l => $"{l.Key}=\"{l.Value}\""))}}} {Value.ToString(CultureInfo.InvariantCulture)}";
    }
}
