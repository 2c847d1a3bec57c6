using System.Text.Json;

namespace LocalChatMesh.Cli.Bench;

/// <summary>How the bench's reports write numbers that may be unknown.</summary>
internal static class JsonWriting
{
    /// <summary>Writes the value rounded to 4 decimals, or null when unknown.</summary>
    public static void WriteNumberOrNull(this Utf8JsonWriter json, string name, double? value)
    {
        if (value is { } v)
        {
            json.WriteNumber(name, Math.Round(v, 4));
        }
        else
        {
            json.WriteNull(name);
        }
    }

    public static void WriteNumberOrNull(this Utf8JsonWriter json, string name, long? value)
    {
        if (value is { } v)
        {
            json.WriteNumber(name, v);
        }
        else
        {
            json.WriteNull(name);
        }
    }
}
