namespace LocalChatMesh.Cli.Commands;

/// <summary>
/// Runs socket completions on one of the runtime's socket event threads instead of handing each
/// to the thread pool, for a process that hosts only the broker. A chat that arrives is then read,
/// decoded and fanned out by the event thread that saw it, and only the writes go to the pool: one
/// thread wake-up less per chat. At 500 messages/s per sender on 2 cores: a third less CPU per
/// delivery and a lower p99, bursts unchanged (BENCHMARKS.md, "Socket completions inline").
/// </summary>
/// <remarks>
/// The runtime reads both settings from the environment only, once, when the first socket is
/// registered; so they are set here, before the broker opens its listener. One event thread, not
/// the runtime's one per core when inline: the hub serializes every step anyway, and two event
/// threads kept less than half the gain on 2 cores. Code that runs on a completion must then never block:
/// the broker's readers wait at the backpressure gate asynchronously, and
/// <see cref="ChatBroker.StopAsync"/> yields before it returns. A value the environment already
/// has (<c>DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=0</c> to turn it off) is left as it is.
/// </remarks>
internal static class SocketCompletions
{
    public const string InlineVariable = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";
    public const string ThreadCountVariable = "DOTNET_SYSTEM_NET_SOCKETS_THREAD_COUNT";

    public static void PreferInline()
    {
        foreach (var (name, value) in Settings(Environment.GetEnvironmentVariable))
        {
            Environment.SetEnvironmentVariable(name, value);
        }
    }

    /// <summary>What <see cref="PreferInline"/> sets, given the environment as <paramref name="read"/> reads it.</summary>
    internal static IReadOnlyList<(string Name, string Value)> Settings(Func<string, string?> read)
    {
        if (read(InlineVariable) is not null)
        {
            // Whoever chose inline or not chose the thread count too (or the runtime's default).
            return [];
        }

        return read(ThreadCountVariable) is null
            ? [(InlineVariable, "1"), (ThreadCountVariable, "1")]
            : [(InlineVariable, "1")];
    }
}
