namespace LocalChatMesh.Storage;

/// <summary>
/// A store cannot be opened or written: a corrupt file, a file in use by another broker, a file
/// written by a newer version, an unwritable place, a full disk. The message is one line meant for
/// the person running the broker, and names the file.
/// </summary>
public class ChatStoreException : ChatMeshException
{
    /// <summary>Creates an exception with no message.</summary>
    public ChatStoreException()
    {
    }

    /// <summary>Creates an exception with a message.</summary>
    public ChatStoreException(string message)
        : base(message)
    {
    }

    /// <summary>Creates an exception with a message and the exception that caused it.</summary>
    public ChatStoreException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
