using System.Net;
using Microsoft.Extensions.Logging;

namespace LocalChatMesh.Diagnostics;

/// <summary>The broker's log messages, source-generated so a disabled level costs nothing.</summary>
internal static partial class Log
{
    [LoggerMessage(1, LogLevel.Information, "broker listening on {EndPoint}")]
    public static partial void Listening(ILogger logger, EndPoint endPoint);

    [LoggerMessage(2, LogLevel.Debug, "connection {ConnectionId} accepted from {RemoteEndPoint}")]
    public static partial void Accepted(ILogger logger, long connectionId, EndPoint? remoteEndPoint);

    [LoggerMessage(3, LogLevel.Information, "connection {ConnectionId} joined as {Nickname}")]
    public static partial void Joined(ILogger logger, long connectionId, string nickname);

    [LoggerMessage(4, LogLevel.Information, "connection {ConnectionId} ({Nickname}) closed: {Reason}")]
    public static partial void Closed(ILogger logger, long connectionId, string? nickname, DisconnectReason reason);

    [LoggerMessage(5, LogLevel.Debug, "connection {ConnectionId} told: {Message}")]
    public static partial void ErrorSent(ILogger logger, long connectionId, string message);

    [LoggerMessage(6, LogLevel.Warning, "connection {ConnectionId} ({Nickname}) is lagging; its messages are dropped until it catches up")]
    public static partial void Lagging(ILogger logger, long connectionId, string? nickname);

    [LoggerMessage(7, LogLevel.Information, "connection {ConnectionId} ({Nickname}) caught up after {Dropped} dropped messages")]
    public static partial void CaughtUp(ILogger logger, long connectionId, string? nickname, long dropped);

    [LoggerMessage(8, LogLevel.Error, "the hub failed while handling connection {ConnectionId}; the connection is closed")]
    public static partial void HubFault(ILogger logger, Exception exception, long connectionId);

    [LoggerMessage(9, LogLevel.Error, "an observer of the broker's events threw; the event is skipped for it")]
    public static partial void ObserverFault(ILogger logger, Exception exception);

    [LoggerMessage(10, LogLevel.Information, "broker shutting down: {Connections} connections to drain")]
    public static partial void ShuttingDown(ILogger logger, int connections);

    [LoggerMessage(11, LogLevel.Warning, "drain deadline passed with {Connections} connections still sending; closing them")]
    public static partial void DrainTimedOut(ILogger logger, int connections);

    [LoggerMessage(12, LogLevel.Error, "accepting connections failed")]
    public static partial void AcceptFault(ILogger logger, Exception exception);

    [LoggerMessage(14, LogLevel.Warning, "listening on {EndPoint}, which is not loopback: other machines can reach this broker")]
    public static partial void ListeningBeyondLoopback(ILogger logger, EndPoint endPoint);

    [LoggerMessage(15, LogLevel.Error, "the store refused a batch of {Count} chats; their senders are told and nobody receives them")]
    public static partial void StoreFailed(ILogger logger, Exception exception, int count);

    [LoggerMessage(16, LogLevel.Information, "history restored from the store: {Messages} chats in {Rooms} rooms, epoch {Epoch}")]
    public static partial void Restored(ILogger logger, int messages, int rooms, string epoch);

    [LoggerMessage(13, LogLevel.Debug, "connection {ConnectionId} transport ended")]
    public static partial void TransportEnded(ILogger logger, Exception exception, long connectionId);

    [LoggerMessage(40, LogLevel.Information, "connection {ConnectionId} from {RemoteEndPoint} closed: TLS handshake failed: {Reason}")]
    public static partial void TlsRefused(ILogger logger, long connectionId, EndPoint? remoteEndPoint, string reason);

    // Strings, not SslProtocols and TlsCipherSuite: this class's static delegates would load
    // System.Net.Security into every broker, TLS or not.
    [LoggerMessage(41, LogLevel.Debug, "connection {ConnectionId} TLS established: {Protocol}, {CipherSuite}")]
    public static partial void TlsEstablished(ILogger logger, long connectionId, string protocol, string cipherSuite);

    [LoggerMessage(44, LogLevel.Warning, "cluster event {Sequence} could not be applied and was skipped")]
    public static partial void ClusterEventSkipped(ILogger logger, Exception exception, long sequence);

    [LoggerMessage(45, LogLevel.Error, "reading the cluster failed")]
    public static partial void ClusterReadFailed(ILogger logger, Exception exception);

    [LoggerMessage(46, LogLevel.Warning, "cluster request failed: {What}")]
    public static partial void ClusterAppendFailed(ILogger logger, Exception exception, string what);

    [LoggerMessage(47, LogLevel.Warning, "cluster {State}")]
    public static partial void ClusterState(ILogger logger, string state);
}
