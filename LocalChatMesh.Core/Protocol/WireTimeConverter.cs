using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace LocalChatMesh.Protocol;

/// <summary>
/// The protocol's time format: RFC 3339 in UTC with milliseconds, <c>2026-12-01T07:20:57.123Z</c>,
/// whatever the offset of the value (System.Text.Json's default keeps offsets and ticks).
/// </summary>
internal sealed class WireTimeConverter : JsonConverter<DateTimeOffset?>
{
    public const string Format = "yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'fff'Z'";

    public override bool HandleNull => false;

    public static string ToWire(DateTimeOffset time) => time.UtcDateTime.ToString(Format, CultureInfo.InvariantCulture);

    public static bool TryParse(string text, out DateTimeOffset time) =>
        DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out time);

    public override DateTimeOffset? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        reader.GetString() is { } text && TryParse(text, out var time) ? time : throw new JsonException("expected an RFC 3339 time");

    /// <summary>Writes the time as a string value in the wire format.</summary>
    public static void WriteTime(Utf8JsonWriter writer, DateTimeOffset time)
    {
        Span<char> text = stackalloc char[24];
        time.UtcDateTime.TryFormat(text, out var written, Format, CultureInfo.InvariantCulture);
        writer.WriteStringValue(text[..written]);
    }

    public override void Write(Utf8JsonWriter writer, DateTimeOffset? value, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(writer);
        if (value is { } time)
        {
            WriteTime(writer, time);
        }
        else
        {
            writer.WriteNullValue();
        }
    }
}
