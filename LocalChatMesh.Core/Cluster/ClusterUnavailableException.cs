namespace LocalChatMesh.Cluster;

/// <summary>
/// The NATS server could not be reached (at start-up, or for longer than a request may wait): nothing
/// was appended, reserved or delivered. The message is one line meant for the person running the broker.
/// </summary>
public class ClusterUnavailableException : ChatMeshException
{
    /// <summary>Creates an exception with no message.</summary>
    public ClusterUnavailableException()
    {
    }

    /// <summary>Creates an exception with a message.</summary>
    public ClusterUnavailableException(string message)
        : base(message)
    {
    }

    /// <summary>Creates an exception with a message and the exception that caused it.</summary>
    public ClusterUnavailableException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
