using System.Diagnostics;
using System.Globalization;

namespace LocalChatMesh.Tests.Support;

/// <summary>
/// A program in a real pseudo-terminal: a detached tmux session on a private tmux server (its
/// own socket, so tests never touch anybody's tmux), driven the way a person would: keys in,
/// screen contents out (send-keys, capture-pane). Waits poll the screen with a deadline; the
/// server is killed on dispose. tmux is installed from Debian when missing (ensure-tmux.sh).
/// </summary>
internal sealed class TmuxSession : IAsyncDisposable
{
    public static readonly TimeSpan Deadline = TimeSpan.FromSeconds(45);

    private static readonly Lazy<string?> Installed = new(Install);

    private readonly string _socket;

    private TmuxSession(string socket) => _socket = socket;

    public const int Width = 100;

    public const int Height = 20;

    /// <summary>
    /// Starts <c>dotnet chatmesh.dll ARGS</c> in a <see cref="Width"/> x <see cref="Height"/>
    /// terminal. The pane stays after the program exits, showing what was printed after the
    /// screen was restored, its exit status, and whether the terminal is back in cooked mode.
    /// </summary>
    public static async Task<TmuxSession> StartCliAsync(params string[] arguments)
    {
        if (Installed.Value is { } problem)
        {
            Assert.Fail($"tmux is needed for the pseudo-terminal tests and could not be installed: {problem}");
        }

        var session = new TmuxSession($"chatmesh-test-{Environment.ProcessId}-{Guid.NewGuid():N}");
        var cli = string.Join(' ', new[] { "dotnet", Path.Combine(AppContext.BaseDirectory, "chatmesh.dll") }.Concat(arguments).Select(Quote));
        // After the client: its exit status, and the terminal's mode (cooked: "icanon", raw: "-icanon").
        var script = $"{cli}; echo \"exit status $?\"; stty -a | grep -o -- '-\\?icanon' | sed 's/^/terminal /'; sleep 600";
        await session.TmuxAsync(
            "new-session", "-d", "-s", "chat", "-x", Width.ToString(CultureInfo.InvariantCulture), "-y", Height.ToString(CultureInfo.InvariantCulture),
            "-e", "DOTNET_CLI_TELEMETRY_OPTOUT=1", "-e", "DOTNET_NOLOGO=1", "-e", "TERM=xterm-256color",
            "sh", "-c", script);
        return session;
    }

    /// <summary>Types text literally (no key names), as a person would.</summary>
    public Task TypeAsync(string text) => TmuxAsync("send-keys", "-t", "chat", "-l", text);

    /// <summary>Presses keys by tmux name: Enter, BSpace, Left, Home, C-w, C-u, Up, Tab, C-c, C-d…</summary>
    public Task PressAsync(params string[] keys) => TmuxAsync(["send-keys", "-t", "chat", .. keys]);

    /// <summary>Resizes the terminal, as dragging the window does (the program gets SIGWINCH).</summary>
    public Task ResizeAsync(int width, int height) =>
        TmuxAsync("resize-window", "-t", "chat", "-x", width.ToString(CultureInfo.InvariantCulture), "-y", height.ToString(CultureInfo.InvariantCulture));

    /// <summary>Sends a Unix signal (TERM, INT…) to the program in the terminal (the child of the pane's shell).</summary>
    public async Task SignalClientAsync(string signal)
    {
        var shell = (await TmuxAsync("display-message", "-p", "-t", "chat", "#{pane_pid}")).Trim();
        var children = await File.ReadAllTextAsync($"/proc/{shell}/task/{shell}/children");
        var client = children.Split(' ', StringSplitOptions.RemoveEmptyEntries).First();
        using var kill = Process.Start("kill", ["-" + signal, client]);
        await kill.WaitForExitAsync();
    }

    /// <summary>The screen now, one string per row, trailing spaces removed.</summary>
    public async Task<IReadOnlyList<string>> ScreenAsync()
    {
        var text = await TmuxAsync("capture-pane", "-p", "-t", "chat");
        var rows = text.Split('\n').Select(r => r.TrimEnd()).ToList();
        // Every row ends with a newline: drop the empty string after the last, keep the screen's own blank rows.
        if (rows.Count > 0 && rows[^1].Length == 0 && text.EndsWith('\n'))
        {
            rows.RemoveAt(rows.Count - 1);
        }

        return rows;
    }

    /// <summary>Polls the screen until <paramref name="condition"/> holds; fails with the last screen.</summary>
    public async Task<IReadOnlyList<string>> WaitForScreenAsync(Func<IReadOnlyList<string>, bool> condition, string description)
    {
        var watch = Stopwatch.StartNew();
        IReadOnlyList<string> screen = [];
        while (watch.Elapsed < Deadline)
        {
            screen = await ScreenAsync();
            if (condition(screen))
            {
                return screen;
            }

            await Task.Delay(100);
        }

        throw new AssertionException($"the screen never showed {description} within {Deadline.TotalSeconds} s:\n{Show(screen)}");
    }

    /// <summary>Polls until some row equals <paramref name="row"/>.</summary>
    public Task<IReadOnlyList<string>> WaitForRowAsync(string row) =>
        WaitForScreenAsync(screen => screen.Contains(row), $"the row '{row}'");

    /// <summary>Polls until some row contains <paramref name="text"/>.</summary>
    public Task<IReadOnlyList<string>> WaitForTextAsync(string text) =>
        WaitForScreenAsync(screen => screen.Any(r => r.Contains(text, StringComparison.Ordinal)), $"'{text}'");

    public static string Show(IReadOnlyList<string> screen) => string.Join('\n', screen.Select((r, i) => $"{i,2}|{r}"));

    public async ValueTask DisposeAsync()
    {
        try
        {
            await TmuxAsync("kill-server");
        }
        catch (AssertionException)
        {
            // Already gone.
        }
    }

    private static string? Install()
    {
        var script = Path.Combine(AppContext.BaseDirectory, "Support", "ensure-tmux.sh");
        using var process = Process.Start(new ProcessStartInfo("bash", [script]) { RedirectStandardError = true, UseShellExecute = false })!;
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        return process.ExitCode == 0 ? null : $"{script} exited {process.ExitCode}: {error.Trim()}";
    }

    private static string Quote(string argument) => "'" + argument.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    private async Task<string> TmuxAsync(params string[] arguments)
    {
        var start = new ProcessStartInfo("tmux") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add("-L");
        start.ArgumentList.Add(_socket);
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(Deadline);
        await process.WaitForExitAsync(timeout.Token);
        if (process.ExitCode != 0)
        {
            throw new AssertionException($"tmux {string.Join(' ', arguments)} exited {process.ExitCode}: {(await error).Trim()}");
        }

        return await output;
    }
}
