using System.Net;
using Microsoft.Extensions.Logging;

namespace LocalChatMesh.Diagnostics;

/// <summary>The client's log messages, source-generated so a disabled level costs nothing.</summary>
internal static partial class ClientLog
{
    /// <summary>The category of every client log message.</summary>
    public const string Category = "LocalChatMesh.Client";

    [LoggerMessage(101, LogLevel.Information, "connected to {EndPoint} as {Nickname}")]
    public static partial void Connected(ILogger logger, EndPoint endPoint, string nickname);

    [LoggerMessage(102, LogLevel.Information, "connection to {EndPoint} closed: {Reason}")]
    public static partial void Closed(ILogger logger, EndPoint endPoint, ChatClientCloseReason reason);

    [LoggerMessage(103, LogLevel.Warning, "connection to {EndPoint} failed")]
    public static partial void Failed(ILogger logger, Exception exception, EndPoint endPoint);

    [LoggerMessage(104, LogLevel.Warning, "connection to {EndPoint} lost: {Reason}")]
    public static partial void Lost(ILogger logger, EndPoint endPoint, string reason);

    [LoggerMessage(105, LogLevel.Information, "reconnecting in {DelaySeconds} s (attempt {Attempt})")]
    public static partial void Reconnecting(ILogger logger, int attempt, double delaySeconds);
}
