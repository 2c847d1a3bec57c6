using LocalChatMesh.Cluster;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace LocalChatMesh.Tests.Cluster;

/// <summary>
/// A real nats-server with JetStream for one test or fixture: <c>nats-server -js -a 127.0.0.1 -p PORT -sd DIR</c>
/// on a free port and a fresh temporary store directory. <see cref="StopAsync"/> and <see cref="StartAsync"/>
/// restart it on the same port and directory (what JetStream stored on file survives). A machine without
/// nats-server gets it from scripts/ensure-nats-server, once per test run.
/// </summary>
internal sealed class NatsServerFixture : IAsyncDisposable
{
    private static readonly TimeSpan ReadyDeadline = TimeSpan.FromSeconds(30);
    private static readonly SemaphoreSlim InstallGate = new(1, 1);
    private static string? s_executable;

    private readonly StringBuilder _log = new();
    private Process? _process;

    private NatsServerFixture(int port, string storeDirectory)
    {
        Port = port;
        StoreDirectory = storeDirectory;
    }

    public int Port { get; }

    public string StoreDirectory { get; }

    public string Url => $"nats://127.0.0.1:{Port}";

    public bool IsRunning => _process is { HasExited: false };

    /// <summary>The CPU time the running server has used (for measurements).</summary>
    public TimeSpan ProcessorTime
    {
        get
        {
            var process = _process ?? throw new InvalidOperationException("nats-server is not running.");
            process.Refresh();
            return process.TotalProcessorTime;
        }
    }

    /// <summary>The server's own log so far (stderr), for a failure's message.</summary>
    public string Log
    {
        get
        {
            lock (_log)
            {
                return _log.ToString();
            }
        }
    }

    /// <summary>Starts a server on a free port with a new store directory, and waits until it accepts clients.</summary>
    public static async Task<NatsServerFixture> StartNewAsync()
    {
        var server = new NatsServerFixture(FreePort(), Directory.CreateTempSubdirectory("chatmesh-nats-").FullName);
        await server.StartAsync();
        return server;
    }

    /// <summary>Starts (again) on the same port and store directory; returns once a client gets its INFO line.</summary>
    public async Task StartAsync()
    {
        if (IsRunning)
        {
            throw new InvalidOperationException("nats-server is running already.");
        }

        var executable = await ExecutableAsync();
        var start = new ProcessStartInfo(executable)
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        foreach (var argument in new[] { "-js", "-a", "127.0.0.1", "-p", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "-sd", StoreDirectory })
        {
            start.ArgumentList.Add(argument);
        }

        var process = new Process { StartInfo = start };
        process.ErrorDataReceived += (_, line) => Append(line.Data);
        process.OutputDataReceived += (_, line) => Append(line.Data);
        process.Start();
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
        _process = process;
        await WaitUntilReadyAsync(process);
    }

    /// <summary>Stops the server: SIGTERM and a wait (a clean shutdown), or SIGKILL with <paramref name="kill"/>.</summary>
    public async Task StopAsync(bool kill = false)
    {
        if (_process is not { } process)
        {
            return;
        }

        _process = null;
        if (!process.HasExited)
        {
            if (kill)
            {
                process.Kill();
            }
            else
            {
                using var signal = Process.Start("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
                await signal.WaitForExitAsync();
            }

            using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            try
            {
                await process.WaitForExitAsync(deadline.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill();
                await process.WaitForExitAsync();
            }
        }

        process.Dispose();
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync(kill: true);
        try
        {
            Directory.Delete(StoreDirectory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static async Task<string> ExecutableAsync()
    {
        await InstallGate.WaitAsync();
        try
        {
            if (s_executable is null && Find() is null)
            {
                await InstallAsync();
            }

            return s_executable ??= Find() ?? throw new InvalidOperationException("nats-server is not installed, and scripts/ensure-nats-server did not install it.");
        }
        finally
        {
            InstallGate.Release();
        }
    }

    private static string? Find()
    {
        var path = Environment.GetEnvironmentVariable("PATH") ?? "";
        return path.Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Concat(["/usr/sbin", "/usr/local/bin", "/usr/bin"])
            .Select(folder => Path.Combine(folder, "nats-server"))
            .FirstOrDefault(File.Exists);
    }

    private static async Task InstallAsync()
    {
        var script = Path.Combine(RepositoryRoot(), "scripts", "ensure-nats-server");
        var start = new ProcessStartInfo("bash") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        start.ArgumentList.Add(script);
        using var install = Process.Start(start)!;
        var output = install.StandardOutput.ReadToEndAsync();
        var errors = install.StandardError.ReadToEndAsync();
        await install.WaitForExitAsync();
        if (install.ExitCode != 0)
        {
            throw new InvalidOperationException($"{script} failed (exit {install.ExitCode}): {await errors}{await output}");
        }
    }

    private static string RepositoryRoot()
    {
        for (var folder = new DirectoryInfo(AppContext.BaseDirectory); folder is not null; folder = folder.Parent)
        {
            if (File.Exists(Path.Combine(folder.FullName, "LocalChatMesh.sln")))
            {
                return folder.FullName;
            }
        }

        throw new InvalidOperationException("LocalChatMesh.sln not found above " + AppContext.BaseDirectory);
    }

    private async Task WaitUntilReadyAsync(Process process)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"nats-server exited with {process.ExitCode} before accepting clients on port {Port}:\n{Log}");
            }

            if (deadline.Elapsed > ReadyDeadline)
            {
                throw new TimeoutException($"nats-server did not accept clients on port {Port} within {ReadyDeadline.TotalSeconds} s:\n{Log}");
            }

            if (await AnswersAsync())
            {
                return;
            }

            await Task.Delay(25);
        }
    }

    // Ready means a client is greeted: the server sends INFO first thing on every connection.
    private async Task<bool> AnswersAsync()
    {
        try
        {
            using var client = new TcpClient();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            await client.ConnectAsync(IPAddress.Loopback, Port, timeout.Token);
            using var reader = new StreamReader(client.GetStream(), Encoding.ASCII);
            var line = await reader.ReadLineAsync(timeout.Token);
            return line?.StartsWith("INFO ", StringComparison.Ordinal) == true;
        }
        catch (Exception exception) when (exception is SocketException or IOException or OperationCanceledException)
        {
            return false;
        }
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_log)
        {
            _log.AppendLine(line);
        }
    }
}
