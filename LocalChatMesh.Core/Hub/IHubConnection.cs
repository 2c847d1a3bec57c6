using System.Net;
using LocalChatMesh.Protocol;

namespace LocalChatMesh.Hub;

/// <summary>
/// One connection as the hub sees it: a stream of decoded messages in, a sink of encoded frames out.
/// The hub knows nothing of sockets, so tests can give it connections made of Subjects.
/// </summary>
internal interface IHubConnection
{
    long Id { get; }

    EndPoint? RemoteEndPoint { get; }

    /// <summary>
    /// The client's messages. Completes when the client closes its side; fails with
    /// <see cref="LineTooLongException"/> for an over-long line or with the transport's exception.
    /// A line that could not be decoded arrives as an <see cref="UnreadableLine"/>.
    /// Must never call back into the hub synchronously from <see cref="IOutboundSink"/> calls.
    /// </summary>
    IObservable<ClientMessage> Inbound { get; }

    IOutboundSink Outbound { get; }
}

/// <summary>
/// The edge between the hub and a socket: a bounded queue of encoded frames drained by the
/// connection's writer. Calls never block: the hub calls them while it holds its lock, so
/// <see cref="Enqueue"/>, <see cref="Close"/> and <see cref="ReleaseIdleMemory"/> come one at a
/// time (the TCP queue relies on it: it has no lock of its own between the hub and its writer).
/// </summary>
internal interface IOutboundSink
{
    /// <summary>Bytes queued and not yet handed to the socket.</summary>
    long BufferedBytes { get; }

    /// <summary>Bytes handed to the socket since the connection opened; progress shows here.</summary>
    long FlushedBytes { get; }

    /// <summary>While true, a backlog above the soft limit pauses reading from every sender.</summary>
    bool HoldsBackSenders { get; set; }

    /// <summary>Queues a frame. The array is shared with other recipients and must not be changed.</summary>
    void Enqueue(byte[] frame);

    /// <summary>Sends what is queued, then closes the connection.</summary>
    void Close();

    /// <summary>Closes the connection now, dropping what is queued.</summary>
    void Abort();

    /// <summary>
    /// Gives back memory kept for bursts if the queue has not used it since the last call; called
    /// periodically by the hub. Nothing to do for a sink that keeps none.
    /// </summary>
    void ReleaseIdleMemory()
    {
    }
}
