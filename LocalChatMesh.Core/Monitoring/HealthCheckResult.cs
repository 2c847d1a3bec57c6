namespace LocalChatMesh.Monitoring;

/// <summary>What one health check of a <see cref="ChatMonitor"/> found, as <c>/healthz</c> shows it.</summary>
/// <param name="IsHealthy">Whether the check passes; one failing check makes <c>/healthz</c> answer 503.</param>
/// <param name="Detail">A short line for people: <c>connected</c>, <c>listening on 127.0.0.1:5000; …</c>.</param>
public readonly record struct HealthCheckResult(bool IsHealthy, string Detail)
{
    /// <summary>A passing check.</summary>
    public static HealthCheckResult Healthy(string detail = "ok") => new(true, detail);

    /// <summary>A failing check.</summary>
    public static HealthCheckResult Unhealthy(string detail) => new(false, detail);
}
