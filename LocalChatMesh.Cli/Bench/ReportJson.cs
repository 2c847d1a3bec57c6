using System.Text.Json;
using System.Text.Json.Serialization;

namespace LocalChatMesh.Cli.Bench;

/// <summary>
/// The source-generated JSON of the bench and soak reports. Names are camelCase; unknown values
/// are written as null; fields that only say something when set (a first error, a partial run)
/// are left out otherwise; times and CPU are rounded as the converters on each property say.
/// The shape is what scripts read: ReportJsonTests pins it, BENCHMARKS.md documents it.
/// </summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(BenchReport))]
[JsonSerializable(typeof(SoakReport))]
[JsonSerializable(typeof(HistoryBenchReport))]
internal sealed partial class ReportJsonContext : JsonSerializerContext;

/// <summary>Writes a number rounded to a number of decimals.</summary>
internal abstract class RoundingConverter(int digits) : JsonConverter<double>
{
    public override double Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => reader.GetDouble();

    public override void Write(Utf8JsonWriter writer, double value, JsonSerializerOptions options) => writer.WriteNumberValue(Math.Round(value, digits));
}

/// <summary>Writes a number that may be unknown rounded to a number of decimals, or null.</summary>
internal abstract class NullableRoundingConverter(int digits) : JsonConverter<double?>
{
    public override bool HandleNull => true;

    public override double? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        reader.TokenType == JsonTokenType.Null ? null : reader.GetDouble();

    public override void Write(Utf8JsonWriter writer, double? value, JsonSerializerOptions options)
    {
        if (value is { } v)
        {
            writer.WriteNumberValue(Math.Round(v, digits));
        }
        else
        {
            writer.WriteNullValue();
        }
    }
}

/// <summary>Whole numbers (deliveries per second).</summary>
internal sealed class Round0() : RoundingConverter(0);

/// <summary>Milliseconds of a duration in seconds.</summary>
internal sealed class Round3() : RoundingConverter(3);

/// <summary>Tenths of a millisecond of a duration in seconds (CPU, join time).</summary>
internal sealed class Round4() : RoundingConverter(4);

/// <summary>As <see cref="Round4"/>, or null when unknown.</summary>
internal sealed class Round4OrNull() : NullableRoundingConverter(4);
