using LocalChatMesh.Cluster;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace LocalChatMesh.Cluster.Nats.Internal;

/// <summary>
/// A reservation's value in the bucket: small JSON, so `nats kv get` shows who holds what:
/// <c>{"nickname":"Alice","broker":"host-1a2b3c","secret":"sha256 hex"}</c>.
/// </summary>
internal static class ReservationValue
{
    public static byte[] Encode(string nickname, string brokerId, string secretHash)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("nickname", nickname);
            writer.WriteString("broker", brokerId);
            writer.WriteString("secret", secretHash);
            writer.WriteEndObject();
        }

        return buffer.ToArray();
    }

    public static NicknameReservation? Decode(string nicknameKey, ReadOnlySpan<byte> value, ulong revision)
    {
        try
        {
            var reader = new Utf8JsonReader(value);
            using var document = JsonDocument.ParseValue(ref reader);
            var root = document.RootElement;
            return new NicknameReservation(nicknameKey, root.GetProperty("nickname").GetString() ?? "", root.GetProperty("broker").GetString() ?? "", revision)
            {
                SecretHash = root.GetProperty("secret").GetString() ?? "",
            };
        }
        catch (Exception exception) when (exception is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            // Not ours (somebody wrote the bucket by hand): treat the nickname as held by nobody we can reach.
            return null;
        }
    }

    public static string HashSecret(string secret) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(secret)));

    public static bool SecretMatches(string secret, string hash) =>
        CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(HashSecret(secret)), Encoding.ASCII.GetBytes(hash));
}
