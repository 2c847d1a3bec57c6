using System.Buffers;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;

namespace LocalChatMesh.Monitoring;

/// <summary>
/// A small HTTP endpoint for watching a broker: <c>GET /healthz</c> answers 200 when every
/// health check passes and 503 when one fails, with each check's result as JSON;
/// <c>GET /metrics</c> answers the broker's Meter (and the .NET runtime's) in the Prometheus
/// text format 0.0.4. Anything else is 404 (405 for a method other than GET or HEAD).
/// </summary>
/// <remarks>
/// It is a plain socket server (HTTP/1.1, one request per connection, at most 8 at once), so a
/// broker that never gets scraped pays little for it. Start it (before the broker, with
/// <see cref="ExpectBroker"/>, to fail on a busy port first), then <see cref="AddBroker"/> and
/// <see cref="AddHealthCheck"/>; it logs no "listening" line itself:
/// <see cref="LocalEndPoint"/> says where it is.
/// </remarks>
/// <example>
/// <code>
/// await using var monitor = ChatMonitor.Start(MonitorOptions.Default with { EndPoint = new(IPAddress.Loopback, 8222) });
/// monitor.AddBroker(broker);
/// monitor.AddHealthCheck("cluster", () => engine.IsConnected ? HealthCheckResult.Healthy("connected") : HealthCheckResult.Unhealthy("disconnected"));
/// </code>
/// </example>
public sealed partial class ChatMonitor : IAsyncDisposable
{
    /// <summary>The monitor's own meter: <c>chatmesh.health</c> (one per check) and <c>chatmesh.uptime</c>.</summary>
    internal const string MeterName = "LocalChatMesh.Monitor";

    private const string RuntimeMeterName = "System.Runtime";
    private const int MaxConcurrentRequests = 8;
    private const int MaxRequestBytes = 8192;
    private const int MaxDrainBytes = 64 * 1024;
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(1);

    private readonly Socket _listener;
    private readonly ILogger _logger;
    private readonly PrometheusExporter _exporter = new();
    private readonly Meter _meter;
    private readonly CancellationTokenSource _stopping = new();
    private readonly SemaphoreSlim _slots = new(MaxConcurrentRequests, MaxConcurrentRequests);
    private readonly Lock _gate = new();
    private readonly long _started = Stopwatch.GetTimestamp();
    private (string Name, Func<HealthCheckResult> Check)[] _checks = [];
    private ChatBroker? _broker;
    private bool _brokerCheck;
    private Task _acceptLoop = Task.CompletedTask;
    private int _disposed;

    private ChatMonitor(MonitorOptions options, Socket listener)
    {
        _listener = listener;
        _logger = options.LoggerFactory.CreateLogger("LocalChatMesh.Monitor");
        LocalEndPoint = (IPEndPoint)listener.LocalEndPoint!;
        _meter = new Meter(MeterName);
        _meter.CreateObservableGauge("chatmesh.health", ObserveHealth, unit: null, "1 for each health check that passes, 0 for one that fails");
        _meter.CreateObservableGauge("chatmesh.uptime", () => Stopwatch.GetElapsedTime(_started).TotalSeconds, "s", "Seconds since the monitor started");
        var meter = _meter;
        var runtime = options.RuntimeMetrics;
        _exporter.Listen(instrument => ReferenceEquals(instrument.Meter, meter) || (runtime && instrument.Meter.Name == RuntimeMeterName));
    }

    /// <summary>The address served, with the real port when port 0 was asked for.</summary>
    public IPEndPoint LocalEndPoint { get; }

    /// <summary>The names of the health checks, in the order they were added.</summary>
    public IReadOnlyList<string> HealthChecks
    {
        get
        {
            lock (_gate)
            {
                return [.. _checks.Select(check => check.Name)];
            }
        }
    }

    /// <summary>Binds the address and starts serving.</summary>
    /// <exception cref="ArgumentException">An option is refused (a non-loopback address without <see cref="MonitorOptions.AllowNonLoopback"/>).</exception>
    /// <exception cref="SocketException">The address cannot be bound (in use, not local).</exception>
    public static ChatMonitor Start(MonitorOptions? options = null)
    {
        options ??= MonitorOptions.Default;
        options.Validate();
        var listener = new Socket(options.EndPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            listener.Bind(options.EndPoint);
            listener.Listen(64);
        }
        catch
        {
            listener.Dispose();
            throw;
        }

        var monitor = new ChatMonitor(options, listener);
        monitor._acceptLoop = Task.Run(monitor.AcceptLoopAsync);
        return monitor;
    }

    /// <summary>
    /// Watches a broker: its Meter's instruments go into <c>/metrics</c> (counted from now on) and a
    /// <c>broker</c> health check passes while it accepts connections. One broker per monitor.
    /// </summary>
    /// <exception cref="InvalidOperationException">A broker was added already.</exception>
    public void AddBroker(ChatBroker broker)
    {
        ArgumentNullException.ThrowIfNull(broker);
        lock (_gate)
        {
            if (_broker is not null)
            {
                throw new InvalidOperationException("This monitor watches a broker already; start one monitor per broker.");
            }

            _broker = broker;
        }

        var meter = broker.Meter;
        _exporter.Listen(instrument => ReferenceEquals(instrument.Meter, meter));
        broker.AnnounceCounters();
        ExpectBroker();
    }

    /// <summary>
    /// Adds the <c>broker</c> health check before there is a broker: it fails with <c>starting</c>
    /// until <see cref="AddBroker"/> is called, so <c>/healthz</c> does not say ok while a broker
    /// started after the monitor is still opening its store or binding its port. Calling it again does nothing.
    /// </summary>
    public void ExpectBroker()
    {
        lock (_gate)
        {
            if (_brokerCheck)
            {
                return;
            }

            _brokerCheck = true;
        }

        AddHealthCheck("broker", () => Volatile.Read(ref _broker) is { } broker ? BrokerHealth(broker) : HealthCheckResult.Unhealthy("starting"));
    }

    /// <summary>
    /// Adds a named check to <c>/healthz</c> (and to <c>chatmesh_health{check="NAME"}</c>). It runs on
    /// every request, on the request's thread: keep it quick and non-blocking. A check that throws fails.
    /// </summary>
    /// <exception cref="ArgumentException">The name is empty or taken.</exception>
    public void AddHealthCheck(string name, Func<HealthCheckResult> check)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(check);
        lock (_gate)
        {
            if (_checks.Any(existing => existing.Name == name))
            {
                throw new ArgumentException($"There is a health check named '{name}' already.", nameof(name));
            }

            _checks = [.. _checks, (name, check)];
        }
    }

    /// <summary>Stops serving: no new connection is accepted and requests under way are cut.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        _listener.Dispose();
        await _acceptLoop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);

        // Every request gives its slot back when it ends; a health check that hangs is not waited for long.
        for (var i = 0; i < MaxConcurrentRequests; i++)
        {
            if (!await _slots.WaitAsync(RequestTimeout).ConfigureAwait(false))
            {
                break;
            }
        }

        _exporter.Dispose();
        _meter.Dispose();
    }

    /// <summary>The <c>broker</c> check: healthy while the broker accepts connections.</summary>
    internal static HealthCheckResult BrokerHealth(ChatBroker broker) =>
        broker.IsAccepting
            ? HealthCheckResult.Healthy($"listening on {broker.LocalEndPoint}; connections {broker.ConnectionCount}, joined {broker.Participants.Count}")
            : HealthCheckResult.Unhealthy(broker.Completion.IsCompleted ? "stopped" : "shutting down");

    /// <summary>Runs every check; one that throws fails with the exception's message.</summary>
    internal (string Name, HealthCheckResult Result)[] RunHealthChecks()
    {
        (string Name, Func<HealthCheckResult> Check)[] checks;
        lock (_gate)
        {
            checks = _checks;
        }

        var results = new (string, HealthCheckResult)[checks.Length];
        for (var i = 0; i < checks.Length; i++)
        {
            HealthCheckResult result;
            try
            {
                result = checks[i].Check();
                result = result with { Detail = result.Detail ?? "" };
            }
#pragma warning disable CA1031 // A check is the embedder's code: whatever it throws, the check fails.
            catch (Exception exception)
#pragma warning restore CA1031
            {
                CheckThrew(_logger, exception, checks[i].Name);
                result = HealthCheckResult.Unhealthy($"the check threw {exception.GetType().Name}: {exception.Message}");
            }

            results[i] = (checks[i].Name, result);
        }

        return results;
    }

    /// <summary>The Prometheus text of <c>/metrics</c>.</summary>
    internal string CollectMetrics() => _exporter.Collect();

    /// <summary>Answers one request line: status, content type, body.</summary>
    internal (int Status, string ContentType, byte[] Body) Answer(string method, string target)
    {
        if (method is not ("GET" or "HEAD"))
        {
            return (405, "text/plain; charset=utf-8", "method not allowed: use GET\n"u8.ToArray());
        }

        var path = target;
        if (path.StartsWith("http://", StringComparison.OrdinalIgnoreCase))
        {
            var slash = path.IndexOf('/', "http://".Length);
            path = slash < 0 ? "/" : path[slash..];
        }

        var query = path.IndexOf('?', StringComparison.Ordinal);
        if (query >= 0)
        {
            path = path[..query];
        }

        return path switch
        {
            "/healthz" => Health(),
            "/metrics" => (200, PrometheusExporter.ContentType, Encoding.UTF8.GetBytes(CollectMetrics())),
            _ => (404, "text/plain; charset=utf-8", "not found: try /healthz or /metrics\n"u8.ToArray()),
        };
    }

    private (int Status, string ContentType, byte[] Body) Health()
    {
        var results = RunHealthChecks();
        var healthy = results.All(check => check.Result.IsHealthy);
        var body = new ArrayBufferWriter<byte>(256);
        using (var json = new Utf8JsonWriter(body))
        {
            json.WriteStartObject();
            json.WriteString("status", healthy ? "ok" : "failing");
            json.WriteStartObject("checks");
            foreach (var (name, result) in results)
            {
                json.WriteStartObject(name);
                json.WriteString("status", result.IsHealthy ? "ok" : "failing");
                json.WriteString("detail", result.Detail);
                json.WriteEndObject();
            }

            json.WriteEndObject();
            json.WriteEndObject();
        }

        return (healthy ? 200 : 503, "application/json; charset=utf-8", [.. body.WrittenSpan, (byte)'\n']);
    }

    private IEnumerable<Measurement<int>> ObserveHealth() =>
        RunHealthChecks().Select(check => new Measurement<int>(check.Result.IsHealthy ? 1 : 0, new KeyValuePair<string, object?>("check", check.Name)));

    private async Task AcceptLoopAsync()
    {
        var token = _stopping.Token;
        while (true)
        {
            try
            {
                await _slots.WaitAsync(token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            Socket socket;
            try
            {
                socket = await _listener.AcceptAsync(token).ConfigureAwait(false);
            }
            catch (Exception exception) when (exception is OperationCanceledException or ObjectDisposedException)
            {
                _slots.Release();
                return;
            }
            catch (SocketException exception)
            {
                _slots.Release();
                AcceptFault(_logger, exception);
                await Task.Delay(TimeSpan.FromMilliseconds(50), token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                continue;
            }

            _ = Task.Run(() => ServeAsync(socket), CancellationToken.None);
        }
    }

    private async Task ServeAsync(Socket socket)
    {
        byte[]? buffer = null;
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
            timeout.CancelAfter(RequestTimeout);
            buffer = ArrayPool<byte>.Shared.Rent(MaxRequestBytes);
            var filled = 0;
            int headEnd;
            while ((headEnd = HeadEnd(buffer.AsSpan(0, filled))) < 0)
            {
                if (filled == MaxRequestBytes)
                {
                    await RespondAsync(socket, 431, "text/plain; charset=utf-8", "request header too large\n"u8.ToArray(), head: false, timeout.Token).ConfigureAwait(false);
                    return;
                }

                var read = await socket.ReceiveAsync(buffer.AsMemory(filled, MaxRequestBytes - filled), timeout.Token).ConfigureAwait(false);
                if (read == 0)
                {
                    return;
                }

                filled += read;
            }

            var requestLine = Encoding.ASCII.GetString(buffer, 0, Math.Max(0, buffer.AsSpan(0, headEnd).IndexOf((byte)'\n'))).TrimEnd('\r');
            var parts = requestLine.Split(' ');
            if (parts.Length != 3 || !parts[2].StartsWith("HTTP/1.", StringComparison.Ordinal) || parts[1].Length == 0)
            {
                await RespondAsync(socket, 400, "text/plain; charset=utf-8", "bad request\n"u8.ToArray(), head: false, timeout.Token).ConfigureAwait(false);
                return;
            }

            var (status, contentType, body) = Answer(parts[0], parts[1]);
            await RespondAsync(socket, status, contentType, body, head: parts[0] == "HEAD", timeout.Token).ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            // The client went away or was too slow, or the monitor is stopping.
        }
        finally
        {
            if (buffer is not null)
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }

            socket.Dispose();
            _slots.Release();
        }
    }

    /// <summary>Writes the response, then closes gently: what the client still sends is read and dropped so it is not reset.</summary>
    private static async Task RespondAsync(Socket socket, int status, string contentType, byte[] body, bool head, CancellationToken cancellationToken)
    {
        var header = new StringBuilder(160)
            .Append("HTTP/1.1 ").Append(status).Append(' ').Append(Reason(status)).Append("\r\n")
            .Append("Content-Type: ").Append(contentType).Append("\r\n")
            .Append("Content-Length: ").Append(body.Length).Append("\r\n")
            .Append("Cache-Control: no-store\r\n");
        if (status == 405)
        {
            header.Append("Allow: GET, HEAD\r\n");
        }

        header.Append("Connection: close\r\n\r\n");
        await socket.SendAsync(Encoding.ASCII.GetBytes(header.ToString()), cancellationToken).ConfigureAwait(false);
        if (!head && body.Length > 0)
        {
            await socket.SendAsync(body, cancellationToken).ConfigureAwait(false);
        }

        socket.Shutdown(SocketShutdown.Send);
        using var drain = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        drain.CancelAfter(DrainTimeout);
        var scratch = ArrayPool<byte>.Shared.Rent(1024);
        var drained = 0;
        try
        {
            while (drained < MaxDrainBytes)
            {
                var read = await socket.ReceiveAsync(scratch, drain.Token).ConfigureAwait(false);
                if (read == 0)
                {
                    break;
                }

                drained += read;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(scratch);
        }
    }

    /// <summary>Where the request head ends (a blank line, CRLF or bare LF), or -1 while it has not arrived.</summary>
    private static int HeadEnd(ReadOnlySpan<byte> bytes)
    {
        for (var i = 0; i < bytes.Length - 1; i++)
        {
            if (bytes[i] != '\n')
            {
                continue;
            }

            if (bytes[i + 1] == '\n')
            {
                return i + 2;
            }

            if (bytes[i + 1] == '\r' && i + 2 < bytes.Length && bytes[i + 2] == '\n')
            {
                return i + 3;
            }
        }

        return -1;
    }

    private static string Reason(int status) => status switch
    {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Unknown",
    };

    [LoggerMessage(101, LogLevel.Warning, "health check '{Name}' threw; it fails")]
    private static partial void CheckThrew(ILogger logger, Exception exception, string name);

    [LoggerMessage(102, LogLevel.Error, "the monitor failed to accept a connection")]
    private static partial void AcceptFault(ILogger logger, Exception exception);
}
