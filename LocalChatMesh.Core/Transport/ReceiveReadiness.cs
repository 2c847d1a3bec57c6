using System.Net.Sockets;
using System.Threading.Tasks.Sources;

namespace LocalChatMesh.Transport;

/// <summary>
/// A zero-byte receive on a socket, awaitable and reusable: it completes when the socket has
/// input, its end of stream or an error, and reports the outcome as a <see cref="SocketError"/>
/// instead of an exception. The runtime's own awaitable receive (what NetworkStream uses) turns a
/// reset into an exception whose stack trace it captures with file and line information, which
/// loads System.Diagnostics.StackTrace and System.Reflection.Metadata (~2 MB resident) and costs
/// CPU at every client that closes with input unread; here a reset is just a value.
/// </summary>
/// <remarks>One receive at a time. Continuations run where the socket engine completes the
/// receive (a thread-pool thread), as the runtime's awaitable receive does.</remarks>
internal sealed class ReceiveReadiness : SocketAsyncEventArgs, IValueTaskSource<SocketError>
{
    private ManualResetValueTaskSourceCore<SocketError> _source;

    public ReceiveReadiness()
        : base(unsafeSuppressExecutionContextFlow: true)
    {
        SetBuffer(Memory<byte>.Empty);
    }

    /// <summary>Waits until <paramref name="socket"/> can be read without blocking.</summary>
    /// <exception cref="ObjectDisposedException">The socket is closed.</exception>
    public ValueTask<SocketError> WaitAsync(Socket socket)
    {
        _source.Reset();
        return socket.ReceiveAsync(this)
            ? new ValueTask<SocketError>(this, _source.Version)
            : new ValueTask<SocketError>(SocketError);
    }

    protected override void OnCompleted(SocketAsyncEventArgs e) => _source.SetResult(SocketError);

    SocketError IValueTaskSource<SocketError>.GetResult(short token) => _source.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource<SocketError>.GetStatus(short token) => _source.GetStatus(token);

    void IValueTaskSource<SocketError>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _source.OnCompleted(continuation, state, token, flags);
}
