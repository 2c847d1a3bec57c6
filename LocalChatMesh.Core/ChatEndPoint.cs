using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Net;

namespace LocalChatMesh;

/// <summary>Parses the <c>HOST:PORT</c> addresses that the broker listens on and clients connect to.</summary>
public static class ChatEndPoint
{
    /// <summary>The broker's default address, <c>127.0.0.1:5000</c>.</summary>
    public static IPEndPoint Default { get; } = new(IPAddress.Loopback, 5000);

    /// <summary>
    /// Parses <c>127.0.0.1:5000</c>, <c>[::1]:5000</c> or <c>localhost:5000</c>
    /// (<c>localhost</c> means 127.0.0.1; no other name is looked up).
    /// </summary>
    /// <exception cref="FormatException">The text is not such an address.</exception>
    public static IPEndPoint Parse(string text) =>
        TryParse(text, out var endPoint, out var error) ? endPoint : throw new FormatException(error);

    /// <summary>Parses an address as <see cref="Parse"/> does, reporting a problem instead of throwing.</summary>
    public static bool TryParse(
        string? text,
        [NotNullWhen(true)] out IPEndPoint? endPoint,
        [NotNullWhen(false)] out string? error)
    {
        endPoint = null;
        text = text?.Trim();
        var colon = text?.LastIndexOf(':') ?? -1;
        if (string.IsNullOrEmpty(text) || colon <= 0 || colon == text.Length - 1)
        {
            error = $"'{text}' is not an address of the form HOST:PORT, such as 127.0.0.1:5000";
            return false;
        }

        var host = text[..colon];
        if (!int.TryParse(text.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var port)
            || port > IPEndPoint.MaxPort)
        {
            error = $"'{text[(colon + 1)..]}' is not a port number from 0 to 65535";
            return false;
        }

        if (host.StartsWith('[') && host.EndsWith(']'))
        {
            host = host[1..^1];
        }

        IPAddress? address = string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase)
            ? IPAddress.Loopback
            : IPAddress.TryParse(host, out var parsed) ? parsed : null;
        if (address is null)
        {
            error = $"'{host}' is not an IP address (or localhost)";
            return false;
        }

        endPoint = new IPEndPoint(address, port);
        error = null;
        return true;
    }
}
