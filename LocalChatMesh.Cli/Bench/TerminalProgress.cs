namespace LocalChatMesh.Cli.Bench;

/// <summary>
/// A progress line rewritten in place (carriage return, erase to end of line) a few times per
/// second, for a person watching a long run in a terminal. The command starts one only when
/// standard error is a terminal, so redirected output never changes.
/// </summary>
internal sealed class TerminalProgress : IAsyncDisposable
{
    /// <summary>Four times per second: often enough to look alive, rarely enough to cost nothing.</summary>
    public static readonly TimeSpan DefaultInterval = TimeSpan.FromMilliseconds(250);

    private const string EraseToEndOfLine = "\u001b[K";

    private readonly TextWriter _writer;
    private readonly Func<string> _describe;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private int _writes;

    public TerminalProgress(TextWriter writer, Func<string> describe, TimeSpan interval)
    {
        _writer = writer;
        _describe = describe;
        _loop = RunAsync(interval);
    }

    /// <summary>How many times the line was written.</summary>
    public int Writes => Volatile.Read(ref _writes);

    /// <summary>Starts a progress line on standard error when it is a terminal; null otherwise.</summary>
    public static TerminalProgress? StartOnTerminal(Func<string> describe) =>
        Console.IsErrorRedirected ? null : new TerminalProgress(Console.Error, describe, DefaultInterval);

    /// <summary>Stops and erases the line, so that what follows starts on a clean line.</summary>
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _loop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        if (Writes > 0)
        {
            _writer.Write("\r" + EraseToEndOfLine);
            _writer.Flush();
        }

        _stop.Dispose();
    }

    private async Task RunAsync(TimeSpan interval)
    {
        using var timer = new PeriodicTimer(interval);
        while (await timer.WaitForNextTickAsync(_stop.Token))
        {
            _writer.Write("\r" + _describe() + EraseToEndOfLine);
            _writer.Flush();
            Interlocked.Increment(ref _writes);
        }
    }
}
