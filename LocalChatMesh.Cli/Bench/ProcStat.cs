using System.Globalization;

namespace LocalChatMesh.Cli.Bench;

/// <summary>
/// Reads another process's CPU time and memory from Linux's /proc. CPU comes in clock ticks of
/// 10 ms (USER_HZ is 100 on every Linux architecture .NET runs on), so runs should last seconds.
/// </summary>
internal static class ProcStat
{
    private const double TicksPerSecond = 100;

    /// <summary>User plus system CPU time of <paramref name="pid"/>, or null when /proc cannot tell.</summary>
    public static TimeSpan? CpuTime(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");

            // The command name (field 2) may hold spaces and parentheses: parse after the last ')'.
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');

            // fields[0] is field 3 (state); utime and stime are fields 14 and 15.
            var utime = long.Parse(fields[11], CultureInfo.InvariantCulture);
            var stime = long.Parse(fields[12], CultureInfo.InvariantCulture);
            return TimeSpan.FromSeconds((utime + stime) / TicksPerSecond);
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return null;
        }
    }

    /// <summary>Peak resident set size (VmHWM) of <paramref name="pid"/> in bytes, or null.</summary>
    public static long? PeakRss(int pid) => StatusField(pid, "VmHWM:");

    /// <summary>Current resident set size (VmRSS) of <paramref name="pid"/> in bytes, or null.</summary>
    public static long? Rss(int pid) => StatusField(pid, "VmRSS:");

    private static long? StatusField(int pid, string name)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            {
                if (line.StartsWith(name, StringComparison.Ordinal))
                {
                    var kilobytes = line[name.Length..].Trim().Split(' ')[0];
                    return long.Parse(kilobytes, CultureInfo.InvariantCulture) * 1024;
                }
            }
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException or FormatException)
        {
        }

        return null;
    }
}
