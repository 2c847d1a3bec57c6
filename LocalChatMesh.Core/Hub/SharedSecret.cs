using System.Text;

namespace LocalChatMesh.Hub;

/// <summary>
/// The broker's shared secret, compared in time that depends only on the candidate's length (which
/// the client chose), so neither the content nor the length of the secret leaks through timing.
/// Managed code only: hashing both sides with SHA-256, as before, mapped OpenSSL (3.7 MB) into
/// every broker with a token.
/// </summary>
internal sealed class SharedSecret(string secret)
{
    private readonly byte[] _secret = Encoding.UTF8.GetBytes(secret);

    public bool Matches(string? candidate) =>
        candidate is not null && ConstantTime.Matches(Encoding.UTF8.GetBytes(candidate), _secret);
}

/// <summary>Comparisons of secrets whose time does not depend on the secret.</summary>
internal static class ConstantTime
{
    /// <summary>
    /// True when <paramref name="candidate"/> equals <paramref name="secret"/>. Every byte of the
    /// candidate is read and compared, against the secret's byte at the same place or, past the
    /// secret's end, against its first byte (chosen without a branch): the time depends on the
    /// candidate's length only.
    /// </summary>
    public static bool Matches(ReadOnlySpan<byte> candidate, ReadOnlySpan<byte> secret)
    {
        var difference = candidate.Length ^ secret.Length;
        if (secret.IsEmpty)
        {
            // Nothing to read from: only the empty candidate matches.
            return difference == 0;
        }

        for (var i = 0; i < candidate.Length; i++)
        {
            var within = (i - secret.Length) >> 31; // all ones while i < secret.Length, else 0
            difference |= candidate[i] ^ secret[i & within];
        }

        return difference == 0;
    }
}
