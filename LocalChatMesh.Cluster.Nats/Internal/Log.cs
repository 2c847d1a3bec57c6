using LocalChatMesh.Cluster;
using Microsoft.Extensions.Logging;

namespace LocalChatMesh.Cluster.Nats.Internal;

internal static partial class Log
{
    [LoggerMessage(1, LogLevel.Information, "Cluster engine {BrokerId} connected to {Url} (cluster '{Cluster}')")]
    public static partial void Connected(ILogger logger, string brokerId, string url, string cluster);

    [LoggerMessage(2, LogLevel.Warning, "Lost the NATS server: nothing is ordered or delivered until it is back")]
    public static partial void ConnectionLost(ILogger logger);

    [LoggerMessage(3, LogLevel.Information, "The NATS server is back")]
    public static partial void ConnectionBack(ILogger logger);

    [LoggerMessage(4, LogLevel.Debug, "Heartbeat not renewed")]
    public static partial void HeartbeatFailed(ILogger logger, Exception exception);

    [LoggerMessage(5, LogLevel.Information, "Reaped the reservation of '{Nickname}' held by dead broker {BrokerId}")]
    public static partial void Reaped(ILogger logger, string nickname, string brokerId);

    [LoggerMessage(6, LogLevel.Debug, "Reaper round failed")]
    public static partial void ReaperFailed(ILogger logger, Exception exception);

    [LoggerMessage(7, LogLevel.Warning, "This broker no longer holds '{Nickname}' (taken over, or reaped while this broker was cut off)")]
    public static partial void ReservationLost(ILogger logger, string nickname);

    [LoggerMessage(8, LogLevel.Debug, "Room consumer interrupted; resuming after sequence {Sequence}")]
    public static partial void ConsumerRestart(ILogger logger, Exception exception, long sequence);

    [LoggerMessage(9, LogLevel.Warning, "A direct message handler failed")]
    public static partial void DirectHandlerFailed(ILogger logger, Exception exception);
}
