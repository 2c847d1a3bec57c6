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

/// <summary>The broker refused the handshake with an <c>error</c>, for example because the nickname is taken.</summary>
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

    /// <summary>The broker's explanation, exactly as sent, such as <c>nickname 'alice' is already in use</c>.</summary>
    public string ServerMessage { get; }
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
