namespace LocalChatMesh;

/// <summary>
/// The connection to the broker could not be made or was lost: TCP failure, timeout, the broker
/// closing before <c>welcome</c>, or a line from the broker that breaks the protocol.
/// </summary>
public class ChatConnectionException : ChatMeshException
{
    /// <summary>Creates an exception with no message.</summary>
    public ChatConnectionException()
    {
    }

    /// <summary>Creates an exception with a message.</summary>
    public ChatConnectionException(string message)
        : base(message)
    {
    }

    /// <summary>Creates an exception with a message and the exception that caused it.</summary>
    public ChatConnectionException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>
/// The broker refused the handshake with an <c>error</c>, for example because the nickname is taken.
/// <see cref="ServerMessage"/> is its text exactly; thrown by the client, the message is that text
/// with any control or format characters escaped.
/// </summary>
public class ChatHandshakeException : ChatMeshException
{
    /// <summary>Creates an exception with no message.</summary>
    public ChatHandshakeException()
        : this("the broker refused the handshake")
    {
    }

    /// <summary>Creates an exception for the broker's explanation, which becomes the message.</summary>
    /// <param name="message">The broker's text, exactly as sent.</param>
    public ChatHandshakeException(string message)
        : base(message)
    {
        ServerMessage = message;
    }

    /// <summary>Creates an exception for the broker's explanation and the exception that caused it.</summary>
    public ChatHandshakeException(string message, Exception innerException)
        : base(message, innerException)
    {
        ServerMessage = message;
    }

    // The message is the broker's text made printable (a hostile peer's control characters
    // escaped), so logging it is safe; ServerMessage keeps the text exactly.
    private ChatHandshakeException(string serverMessage, bool printable)
        : base(printable ? Printable.Escape(serverMessage) : serverMessage)
    {
        ServerMessage = serverMessage;
    }

    internal static ChatHandshakeException FromBroker(string serverMessage) => new(serverMessage, printable: true);

    /// <summary>The broker's explanation, exactly as sent, such as <c>nickname 'alice' is already in use</c>.</summary>
    public string ServerMessage { get; }
}

/// <summary>
/// A version 2 feature was used that the broker did not grant: a version 1 broker, or the
/// capability was not asked for in <see cref="ChatClientOptions.Capabilities"/>.
/// </summary>
public class ChatCapabilityException : ChatMeshException
{
    /// <summary>Creates an exception with a generic message.</summary>
    public ChatCapabilityException()
        : base("the broker did not grant a capability this call needs")
    {
    }

    /// <summary>Creates an exception with a message.</summary>
    public ChatCapabilityException(string message)
        : base(message)
    {
    }

    /// <summary>Creates an exception with a message and the exception that caused it.</summary>
    public ChatCapabilityException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    private ChatCapabilityException(string message, string capability)
        : base(message)
    {
        Capability = capability;
    }

    /// <summary>The capability that is missing, such as <c>rooms</c>, when known.</summary>
    public string? Capability { get; }

    internal static ChatCapabilityException NotGranted(string capability) => new(
        $"the broker did not grant '{capability}' (a version 1 broker, or not asked for in ChatClientOptions.Capabilities)",
        capability);
}

/// <summary>
/// A request to the broker (join, leave, rooms, who) was refused with an <c>error</c>, whose text
/// is then <see cref="ServerMessage"/> (and the message, control characters escaped), or got no answer within
/// <see cref="ChatClientOptions.RequestTimeout"/> (then <see cref="ServerMessage"/> is null and the
/// inner exception is a <see cref="TimeoutException"/>).
/// </summary>
public class ChatRequestException : ChatMeshException
{
    /// <summary>Creates an exception with a generic message.</summary>
    public ChatRequestException()
        : base("the broker refused the request")
    {
    }

    /// <summary>Creates an exception for the broker's refusal, which becomes the message.</summary>
    /// <param name="message">The broker's text, exactly as sent.</param>
    public ChatRequestException(string message)
        : base(message)
    {
        ServerMessage = message;
    }

    // As for ChatHandshakeException: a printable message, the exact text in ServerMessage.
    private ChatRequestException(string serverMessage, bool printable)
        : base(printable ? Printable.Escape(serverMessage) : serverMessage)
    {
        ServerMessage = serverMessage;
    }

    internal static ChatRequestException FromBroker(string serverMessage) => new(serverMessage, printable: true);

    /// <summary>Creates an exception with a message and the exception that caused it (no broker text).</summary>
    public ChatRequestException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>The broker's refusal, exactly as sent, such as <c>already in room 'dev'</c>; null for a timeout.</summary>
    public string? ServerMessage { get; }
}

/// <summary>Why a <see cref="ChatClient"/> connection ended.</summary>
public enum ChatClientCloseReason
{
    /// <summary>This side closed it, with <see cref="ChatClient.DisposeAsync"/>.</summary>
    ClosedByClient,

    /// <summary>The broker closed it cleanly.</summary>
    ClosedByServer,

    /// <summary>The connection failed: a socket error, or a line that breaks the protocol.</summary>
    TransportFailure,
}

/// <summary>Why a <see cref="ChatRoom"/> is no longer joined.</summary>
public enum ChatRoomCloseReason
{
    /// <summary>This side left it, with <see cref="ChatRoom.LeaveAsync"/> or <see cref="ChatRoom.DisposeAsync"/>.</summary>
    LeftByClient,

    /// <summary>The broker removed this client from the room (a <c>left</c> it did not ask for).</summary>
    RemovedByServer,

    /// <summary>The connection ended, however it ended (<see cref="ChatClient.Completion"/> says how).</summary>
    ConnectionEnded,
}
