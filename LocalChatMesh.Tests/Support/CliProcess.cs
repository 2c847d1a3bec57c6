using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using System.Threading.Channels;

namespace LocalChatMesh.Tests.Support;

/// <summary>
/// Drives the built <c>chatmesh</c> CLI as a separate process with standard input, output and
/// error redirected: write lines, wait for a line with a deadline, wait for the exit with a
/// deadline. The process is killed on dispose if it is still running. Failures carry a transcript.
/// </summary>
internal sealed partial class CliProcess : IAsyncDisposable
{
    public static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    private readonly Process _process;
    private readonly Channel<string> _output = Channel.CreateUnbounded<string>();
    private readonly Channel<string> _error = Channel.CreateUnbounded<string>();
    private readonly List<string> _outputLines = [];
    private readonly List<string> _errorLines = [];
    private readonly Lock _lock = new();

    private CliProcess(Process process)
    {
        _process = process;
    }

    /// <summary>Everything printed on standard output so far.</summary>
    public IReadOnlyList<string> OutputLines
    {
        get
        {
            lock (_lock)
            {
                return [.. _outputLines];
            }
        }
    }

    /// <summary>Everything printed on standard error so far.</summary>
    public IReadOnlyList<string> ErrorLines
    {
        get
        {
            lock (_lock)
            {
                return [.. _errorLines];
            }
        }
    }

    public int Id => _process.Id;

    /// <summary>Starts <c>dotnet chatmesh.dll ARGS</c>; the CLI is built beside the test assembly.</summary>
    public static CliProcess Start(params string[] arguments) => Start(new Dictionary<string, string?>(), arguments);

    /// <summary>As <see cref="Start(string[])"/>, with these variables set (a null value removes one) in its environment.</summary>
    public static CliProcess Start(IReadOnlyDictionary<string, string?> environment, params string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardInputEncoding = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false),
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
            WorkingDirectory = AppContext.BaseDirectory,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "chatmesh.dll"));
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        foreach (var (name, value) in environment)
        {
            if (value is null)
            {
                start.Environment.Remove(name);
            }
            else
            {
                start.Environment[name] = value;
            }
        }

        var process = new Process { StartInfo = start };
        var cli = new CliProcess(process);
        process.OutputDataReceived += (_, e) => cli.Receive(e.Data, cli._output, cli._outputLines);
        process.ErrorDataReceived += (_, e) => cli.Receive(e.Data, cli._error, cli._errorLines);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return cli;
    }

    public async Task WriteLineAsync(string line)
    {
        await _process.StandardInput.WriteAsync(line + "\n");
        await _process.StandardInput.FlushAsync();
    }

    /// <summary>Ends standard input, as Ctrl+D does.</summary>
    public void CloseInput() => _process.StandardInput.Close();

    /// <summary>Sends a Unix signal (TERM, INT…), as the terminal or a service manager does.</summary>
    public async Task SignalAsync(string signal)
    {
        using var kill = Process.Start("kill", ["-" + signal, _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        await kill.WaitForExitAsync().WaitAsync(Deadline);
    }

    /// <summary>Waits for the next standard output line equal to <paramref name="expected"/>, skipping others.</summary>
    public Task<string> WaitForOutputLineAsync(string expected) => WaitForAsync(_output, "standard output", line => line == expected, $"'{expected}'");

    /// <summary>Waits for the next standard output line that matches, skipping others.</summary>
    public Task<string> WaitForOutputLineAsync(Func<string, bool> match, string description) => WaitForAsync(_output, "standard output", match, description);

    /// <summary>
    /// Waits for the broker command's banner, <c>broker listening on 127.0.0.1:PORT</c> (the broker
    /// listens on 127.0.0.1 port 0 in every test), and returns the address it names.
    /// </summary>
    public async Task<IPEndPoint> WaitForBrokerAddressAsync()
    {
        var banner = await WaitForOutputLineAsync(line => BrokerBanner().IsMatch(line), "the broker banner");
        return IPEndPoint.Parse(BrokerBanner().Match(banner).Groups[1].Value);
    }

    /// <summary>The broker command's first line of standard output; the address is its group 1.</summary>
    [GeneratedRegex(@"^broker listening on (127\.0\.0\.1:[0-9]+)$")]
    public static partial Regex BrokerBanner();

    /// <summary>Waits for the next standard error line that matches, skipping others.</summary>
    public Task<string> WaitForErrorLineAsync(Func<string, bool> match, string description) => WaitForAsync(_error, "standard error", match, description);

    /// <summary>Waits for the process to exit and for its output to be read to the end; returns the exit code.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan? deadline = null)
    {
        using var timeout = new CancellationTokenSource(deadline ?? Deadline);
        try
        {
            await _process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            throw new AssertionException($"the CLI did not exit within {(deadline ?? Deadline).TotalSeconds} s\n{Transcript()}");
        }

        return _process.ExitCode;
    }

    public string Transcript()
    {
        lock (_lock)
        {
            return $"--- stdout ---\n{string.Join('\n', _outputLines)}\n--- stderr ---\n{string.Join('\n', _errorLines)}";
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync().WaitAsync(Deadline);
            }
        }
        catch (InvalidOperationException)
        {
            // Never started, or already gone.
        }

        _process.Dispose();
    }

    private void Receive(string? line, Channel<string> channel, List<string> all)
    {
        if (line is null)
        {
            channel.Writer.TryComplete();
            return;
        }

        lock (_lock)
        {
            all.Add(line);
        }

        channel.Writer.TryWrite(line);
    }

    private async Task<string> WaitForAsync(Channel<string> channel, string stream, Func<string, bool> match, string description)
    {
        using var timeout = new CancellationTokenSource(Deadline);
        try
        {
            await foreach (var line in channel.Reader.ReadAllAsync(timeout.Token))
            {
                if (match(line))
                {
                    return line;
                }
            }
        }
        catch (OperationCanceledException)
        {
            throw new AssertionException($"no line {description} on {stream} within {Deadline.TotalSeconds} s\n{Transcript()}");
        }

        throw new AssertionException($"{stream} ended without a line {description}\n{Transcript()}");
    }
}
