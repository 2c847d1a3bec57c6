namespace LocalChatMesh;

/// <summary>The base type of every exception that Local Chat Mesh throws on purpose.</summary>
public class ChatMeshException : Exception
{
    /// <summary>Creates an exception with no message.</summary>
    public ChatMeshException()
    {
    }

    /// <summary>Creates an exception with a message.</summary>
    public ChatMeshException(string message)
        : base(message)
    {
    }

    /// <summary>Creates an exception with a message and the exception that caused it.</summary>
    public ChatMeshException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
