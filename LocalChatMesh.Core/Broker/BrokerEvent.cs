using System.Net;

namespace LocalChatMesh;

/// <summary>Why a connection ended.</summary>
public enum DisconnectReason
{
    /// <summary>The client closed its side of the connection.</summary>
    ClientClosed,

    /// <summary>The connection failed (reset, broken pipe).</summary>
    TransportError,

    /// <summary>The handshake was refused: not a hello first, or a nickname that is not allowed.</summary>
    HandshakeRefused,

    /// <summary>The hello did not carry the broker's shared secret.</summary>
    AuthenticationFailed,

    /// <summary>No acceptable hello arrived within the handshake timeout.</summary>
    HandshakeTimeout,

    /// <summary>The client sent a line over the length limit.</summary>
    LineTooLong,

    /// <summary>The broker already had its maximum number of clients.</summary>
    ServerFull,

    /// <summary>The client made no progress reading for the disconnect grace.</summary>
    SlowConsumer,

    /// <summary>The broker shut down.</summary>
    Shutdown,

    /// <summary>A new connection took the nickname over with the session secret (<c>connection replaced</c>).</summary>
    Replaced,
}

/// <summary>Something that happened in the broker, for apps that embed it. See <see cref="ChatBroker.Events"/>.</summary>
/// <param name="ConnectionId">The connection it concerns; ids count up from 1 per broker.</param>
public abstract record BrokerEvent(long ConnectionId);

/// <summary>A TCP connection was accepted (with <see cref="BrokerOptions.Tls"/>: and its TLS handshake succeeded); no chat handshake yet.</summary>
/// <param name="ConnectionId">The new connection.</param>
/// <param name="RemoteEndPoint">The peer's address.</param>
public sealed record ClientConnectedEvent(long ConnectionId, EndPoint? RemoteEndPoint) : BrokerEvent(ConnectionId);

/// <summary>A client completed the handshake and joined the chat.</summary>
/// <param name="ConnectionId">The connection.</param>
/// <param name="Nickname">Its reserved nickname.</param>
public sealed record ClientJoinedEvent(long ConnectionId, string Nickname) : BrokerEvent(ConnectionId);

/// <summary>A client sent a chat line that was broadcast.</summary>
/// <param name="ConnectionId">The sender's connection.</param>
/// <param name="Nickname">The sender.</param>
/// <param name="Text">The line.</param>
public sealed record ChatEvent(long ConnectionId, string Nickname, string Text) : BrokerEvent(ConnectionId)
{
    /// <summary>The room it was said in (<c>lobby</c> for a version 1 client).</summary>
    public string Room { get; init; } = "lobby";

    /// <summary>The message's id (what clients granted <c>meta</c> see).</summary>
    public long Id { get; init; }
}

/// <summary>A client entered a room (version 1 clients enter <c>lobby</c> at their handshake).</summary>
/// <param name="ConnectionId">The connection.</param>
/// <param name="Nickname">Who.</param>
/// <param name="Room">The room, as first spelled.</param>
public sealed record RoomJoinedEvent(long ConnectionId, string Nickname, string Room) : BrokerEvent(ConnectionId);

/// <summary>A client left a room, by asking or by disconnecting.</summary>
/// <param name="ConnectionId">The connection.</param>
/// <param name="Nickname">Who.</param>
/// <param name="Room">The room.</param>
public sealed record RoomLeftEvent(long ConnectionId, string Nickname, string Room) : BrokerEvent(ConnectionId);

/// <summary>A direct message was delivered.</summary>
/// <param name="ConnectionId">The sender's connection.</param>
/// <param name="From">The sender.</param>
/// <param name="To">The recipient.</param>
/// <param name="Text">The text.</param>
public sealed record DirectMessageEvent(long ConnectionId, string From, string To, string Text) : BrokerEvent(ConnectionId);

/// <summary>The broker sent a client an <c>error</c>.</summary>
/// <param name="ConnectionId">The connection.</param>
/// <param name="Message">The error's text.</param>
public sealed record ClientErrorEvent(long ConnectionId, string Message) : BrokerEvent(ConnectionId);

/// <summary>A client fell behind: messages for it are being dropped.</summary>
/// <param name="ConnectionId">The connection.</param>
/// <param name="Nickname">The client.</param>
public sealed record ClientLaggingEvent(long ConnectionId, string Nickname) : BrokerEvent(ConnectionId);

/// <summary>A connection ended, for whatever reason; <paramref name="Nickname"/> is set if it had joined.</summary>
/// <param name="ConnectionId">The connection.</param>
/// <param name="Nickname">Its nickname, if it had joined.</param>
/// <param name="Reason">Why it ended.</param>
public sealed record ClientDisconnectedEvent(long ConnectionId, string? Nickname, DisconnectReason Reason) : BrokerEvent(ConnectionId);
