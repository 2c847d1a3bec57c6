using LocalChatMesh.Cluster;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace LocalChatMesh.Cluster.Nats.Internal;

/// <summary>
/// Every NATS name a cluster uses, all under its <see cref="NatsClusterOptions.ClusterName"/>:
/// <list type="bullet">
/// <item><c>{cluster}-rooms</c>: the stream of every room, subjects <c>{cluster}.room.{room}.chat</c> and <c>.presence.{member}</c>;</item>
/// <item><c>{cluster}-nicknames</c>: the reservation bucket, one key per nickname;</item>
/// <item><c>{cluster}-brokers</c>: the heartbeat bucket, one key per live broker;</item>
/// <item><c>{cluster}-ids</c>: a one-key bucket whose revisions are direct message ids;</item>
/// <item><c>{cluster}.broker.{id}.direct.{nickname}</c> and <c>.replaced</c>: core subjects one broker serves.</item>
/// </list>
/// Room and nickname keys can hold characters a subject token or bucket key cannot (a room's <c>.</c>
/// separates subject tokens; a nickname can be any Unicode), so they are escaped: ASCII letters,
/// digits and <c>-</c> stay, every other UTF-8 byte becomes <c>_XX</c>. The escape is one-to-one.
/// </summary>
internal sealed class ClusterNames(string cluster)
{
    public string Stream { get; } = $"{cluster}-rooms";

    public string NicknameBucket { get; } = $"{cluster}-nicknames";

    public string BrokerBucket { get; } = $"{cluster}-brokers";

    public string AllRooms { get; } = $"{cluster}.room.>";

    private string RoomPrefix { get; } = $"{cluster}.room.";

    public string IdBucket { get; } = $"{cluster}-ids";

    /// <summary>A room event's subject; a member's presence has its own (<c>.presence.{member}</c>) so the per-subject limit keeps each member's latest.</summary>
    public string RoomSubject(string roomKey, RoomEventKind kind, string? memberKey = null) => kind == RoomEventKind.Chat
        ? $"{RoomPrefix}{Escape(roomKey)}.chat"
        : memberKey is null ? $"{RoomPrefix}{Escape(roomKey)}.presence" : $"{RoomPrefix}{Escape(roomKey)}.presence.{Escape(memberKey)}";

    /// <summary>Reads a room subject back; false for anything else.</summary>
    public bool TryParseRoomSubject(string subject, out string roomKey, out RoomEventKind kind)
    {
        roomKey = "";
        kind = RoomEventKind.Chat;
        if (!subject.StartsWith(RoomPrefix, StringComparison.Ordinal))
        {
            return false;
        }

        var rest = subject.AsSpan(RoomPrefix.Length);
        var dot = rest.IndexOf('.');
        if (dot <= 0)
        {
            return false;
        }

        var suffix = rest[(dot + 1)..];
        if (suffix.SequenceEqual("chat"))
        {
            kind = RoomEventKind.Chat;
        }
        else if (suffix.SequenceEqual("presence") || (suffix.StartsWith("presence.") && suffix.Length > "presence.".Length && !suffix["presence.".Length..].Contains('.')))
        {
            kind = RoomEventKind.Presence;
        }
        else
        {
            return false;
        }

        return TryUnescape(rest[..dot], out roomKey);
    }

    public string DirectSubject(string brokerId, string recipientKey) => $"{BrokerPrefix(brokerId)}direct.{Escape(recipientKey)}";

    public string DirectSubjects(string brokerId) => $"{BrokerPrefix(brokerId)}direct.*";

    public string ReplacedSubject(string brokerId) => $"{BrokerPrefix(brokerId)}replaced";

    public static string NicknameKey(string nicknameKey) => Escape(nicknameKey);

    public static bool TryParseNicknameKey(string key, out string nicknameKey) => TryUnescape(key, out nicknameKey);

    /// <summary>A broker id unique to this engine: a restarted broker is a new broker, so its predecessor's reservations are reaped.</summary>
    public static string NewBrokerId(string brokerName)
    {
        var name = new string([.. brokerName.ToLowerInvariant().Where(c => char.IsAsciiLetterOrDigit(c) || c == '-').Take(24)]);
        return $"{(name.Length == 0 ? "broker" : name)}-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6))}";
    }

    public static string Escape(string value)
    {
        var builder = new StringBuilder(value.Length);
        Span<byte> bytes = stackalloc byte[4];
        foreach (var rune in value.EnumerateRunes())
        {
            if (rune.IsAscii && (char.IsAsciiLetterOrDigit((char)rune.Value) || rune.Value == '-'))
            {
                builder.Append((char)rune.Value);
                continue;
            }

            var count = rune.EncodeToUtf8(bytes);
            foreach (var b in bytes[..count])
            {
                builder.Append('_').Append(b.ToString("X2", CultureInfo.InvariantCulture));
            }
        }

        return builder.ToString();
    }

    private static bool TryUnescape(ReadOnlySpan<char> token, out string value)
    {
        value = "";
        var bytes = new List<byte>(token.Length);
        for (var i = 0; i < token.Length; i++)
        {
            var c = token[i];
            if (c == '_')
            {
                if (i + 2 >= token.Length || !byte.TryParse(token.Slice(i + 1, 2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var b))
                {
                    return false;
                }

                bytes.Add(b);
                i += 2;
            }
            else if (char.IsAsciiLetterOrDigit(c) || c == '-')
            {
                bytes.Add((byte)c);
            }
            else
            {
                return false;
            }
        }

        value = Encoding.UTF8.GetString([.. bytes]);
        return true;
    }

    private string BrokerPrefix(string brokerId) => $"{cluster}.broker.{brokerId}.";
}
