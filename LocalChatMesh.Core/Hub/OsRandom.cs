using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace LocalChatMesh.Hub;

/// <summary>
/// Cryptographically strong random bytes for epochs and session tokens that do not load OpenSSL.
/// On Linux <see cref="RandomNumberGenerator"/> goes through OpenSSL, which maps libcrypto and
/// libssl (3.7 MB of RSS) into a broker that uses no TLS; <see cref="Guid.NewGuid"/> reads the
/// kernel's generator (<c>/dev/urandom</c>) through the runtime's own System.Native instead
/// (dotnet/runtime: Guid.Unix.cs calls <c>Interop.GetCryptographicallySecureRandomBytes</c>,
/// pal_random.c). Elsewhere the platform generator behind <see cref="RandomNumberGenerator"/> is
/// used as it is. BENCHMARKS.md, "Memory at rest and per connection".
/// </summary>
internal static class OsRandom
{
    // A version 4 Guid fixes 6 of its 128 bits (version in byte 7, variant in byte 8 of its
    // little-endian layout); the other 14 bytes are random as they came from the generator.
    private const int RandomBytesPerGuid = 14;

    /// <summary>Fills <paramref name="destination"/> with random bytes.</summary>
    public static void Fill(Span<byte> destination)
    {
        if (!OperatingSystem.IsLinux())
        {
            FillFromPlatform(destination);
            return;
        }

        Span<byte> guid = stackalloc byte[16];
        while (!destination.IsEmpty)
        {
            var g = Guid.NewGuid();
            MemoryMarshal.Write(guid, in g);
            var take = Math.Min(RandomBytesPerGuid, destination.Length);
            var first = Math.Min(take, 7);
            guid[..first].CopyTo(destination);
            guid.Slice(9, take - first).CopyTo(destination[first..]);
            destination = destination[take..];
        }
    }

    // A method of its own: compiling Fill must not resolve RandomNumberGenerator, which would load
    // System.Security.Cryptography (1.1-1.5 MB of RSS) on Linux too.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void FillFromPlatform(Span<byte> destination) => RandomNumberGenerator.Fill(destination);

    /// <summary>Returns <paramref name="count"/> random bytes.</summary>
    public static byte[] GetBytes(int count)
    {
        var bytes = new byte[count];
        Fill(bytes);
        return bytes;
    }
}
