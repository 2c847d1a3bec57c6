using System.Security.Cryptography;
using System.Text;

namespace LocalChatMesh.Hub;

/// <summary>
/// The broker's shared secret. Both sides are hashed before a fixed-time comparison, so neither
/// the content nor the length of the secret leaks through timing.
/// </summary>
internal sealed class SharedSecret(string secret)
{
    private readonly byte[] _hash = SHA256.HashData(Encoding.UTF8.GetBytes(secret));

    public bool Matches(string? candidate)
    {
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(Encoding.UTF8.GetBytes(candidate ?? string.Empty), hash);
        return CryptographicOperations.FixedTimeEquals(hash, _hash) && candidate is not null;
    }
}
