using System.Numerics;

namespace LocalChatMesh.Cli.Bench;

/// <summary>
/// A log-linear histogram of latencies in microseconds, in the manner of HdrHistogram:
/// exact below 128 µs, then 64 buckets per power of two (under 1.6 % error). Recording is an
/// array increment, so each receive loop keeps its own and they are merged at the end.
/// </summary>
internal sealed class LatencyHistogram
{
    private const int SubBuckets = 64;
    private const int LinearLimit = 2 * SubBuckets;

    // Enough buckets for 2^40 µs (12 days).
    private readonly long[] _counts = new long[(40 - 5) * SubBuckets];

    public long Count { get; private set; }

    public long MaxMicroseconds { get; private set; }

    public void Record(long microseconds)
    {
        if (microseconds < 0)
        {
            microseconds = 0;
        }

        var index = Math.Min(IndexOf(microseconds), _counts.Length - 1);
        _counts[index]++;
        Count++;
        if (microseconds > MaxMicroseconds)
        {
            MaxMicroseconds = microseconds;
        }
    }

    public void Add(LatencyHistogram other)
    {
        for (var i = 0; i < _counts.Length; i++)
        {
            _counts[i] += other._counts[i];
        }

        Count += other.Count;
        MaxMicroseconds = Math.Max(MaxMicroseconds, other.MaxMicroseconds);
    }

    /// <summary>The value at or below which <paramref name="percentile"/> % of the samples lie (bucket upper bound).</summary>
    public long Percentile(double percentile)
    {
        if (Count == 0)
        {
            return 0;
        }

        var rank = (long)Math.Ceiling(percentile / 100 * Count);
        rank = Math.Clamp(rank, 1, Count);
        long seen = 0;
        for (var i = 0; i < _counts.Length; i++)
        {
            seen += _counts[i];
            if (seen >= rank)
            {
                return Math.Min(UpperBound(i), MaxMicroseconds);
            }
        }

        return MaxMicroseconds;
    }

    internal static int IndexOf(long value)
    {
        if (value < LinearLimit)
        {
            return (int)value;
        }

        var shift = BitOperations.Log2((ulong)value) - 6;
        return ((shift + 1) * SubBuckets) + (int)(value >> shift) - SubBuckets;
    }

    private static long UpperBound(int index)
    {
        if (index < LinearLimit)
        {
            return index;
        }

        var shift = (index / SubBuckets) - 1;
        var sub = (index % SubBuckets) + SubBuckets;
        return ((long)(sub + 1) << shift) - 1;
    }
}
