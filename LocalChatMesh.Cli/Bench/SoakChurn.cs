using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace LocalChatMesh.Cli.Bench;

/// <summary>How a short-lived soak client ends its connection.</summary>
internal enum ChurnKind
{
    /// <summary>Joins, then shuts down its sending side and waits for the broker to close (a normal leave).</summary>
    Graceful,

    /// <summary>Joins, then closes with linger 0: the broker sees a reset.</summary>
    Reset,

    /// <summary>Joins, sends half a line, then shuts down its sending side: the broker sees end of stream mid-line.</summary>
    HalfLine,

    /// <summary>Connects and closes without ever sending <c>hello</c>.</summary>
    NoHello,
}

/// <summary>
/// The soak's churn: a fixed number of short-lived clients at once, each replaced as soon as it
/// leaves. Connection <c>n</c> leaves the <see cref="ChurnKind"/> way <c>n % 4</c>, stays up to a
/// second and, when it joins, sends up to three chats (<see cref="BenchPayload.ChurnSender"/>), all
/// derived from <c>n</c> so a run is repeatable. Each reads and discards what the broker sends, so
/// it never holds the broker back.
/// </summary>
internal sealed class SoakChurn(IPEndPoint endPoint)
{
    private const int MaxChats = 3;
    private const int MaxLifetimeMilliseconds = 1000;
    private const int ReceiveBufferSize = 8 * 1024;

    /// <summary>How long one connection may take for each wait: connect, welcome, the broker's close.</summary>
    private static readonly TimeSpan StepTimeout = TimeSpan.FromSeconds(30);

    private static readonly byte[] HalfLine = "{\"type\":\"chat\",\"text\":\"churn, half a li"u8.ToArray();

    private readonly long[] _completed = new long[Enum.GetValues<ChurnKind>().Length];
    private long _next;
    private long _chats;
    private long _failures;
    private string? _firstFailure;

    /// <summary>Connections over and done with, failed ones included.</summary>
    public long Churned => Completed(ChurnKind.Graceful) + Completed(ChurnKind.Reset) + Completed(ChurnKind.HalfLine) + Completed(ChurnKind.NoHello) + Failures;

    /// <summary>Chats the churn clients sent.</summary>
    public long Chats => Volatile.Read(ref _chats);

    /// <summary>Connections that did not go as planned: refused, no welcome, or not closed by the broker after a leave.</summary>
    public long Failures => Volatile.Read(ref _failures);

    public string? FirstFailure => Volatile.Read(ref _firstFailure);

    /// <summary>Connections of one kind that went as planned.</summary>
    public long Completed(ChurnKind kind) => Volatile.Read(ref _completed[(int)kind]);

    /// <summary>
    /// Keeps <paramref name="concurrency"/> connections coming and going until <paramref name="stop"/>;
    /// the ones under way then leave their usual way at once. <paramref name="abort"/> ends everything.
    /// </summary>
    public Task RunAsync(int concurrency, CancellationToken stop, CancellationToken abort) =>
        Task.WhenAll(Enumerable.Range(0, concurrency).Select(_ => Task.Run(() => WorkAsync(stop, abort), CancellationToken.None)));

    private async Task WorkAsync(CancellationToken stop, CancellationToken abort)
    {
        while (!stop.IsCancellationRequested && !abort.IsCancellationRequested)
        {
            var id = Interlocked.Increment(ref _next);
            var kind = (ChurnKind)(id % _completed.Length);
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(abort);
            try
            {
                await ConnectionAsync(id, kind, deadline, stop);
                Interlocked.Increment(ref _completed[(int)kind]);
            }
            catch (Exception exception) when (!abort.IsCancellationRequested && exception is SocketException or IOException or OperationCanceledException or ObjectDisposedException)
            {
                var reason = exception is OperationCanceledException ? $"no progress within {StepTimeout.TotalSeconds:0} s" : exception.Message;
                Interlocked.Increment(ref _failures);
                Interlocked.CompareExchange(ref _firstFailure, string.Create(CultureInfo.InvariantCulture, $"c{id} ({kind}): {reason}"), null);
            }
            catch (OperationCanceledException) when (abort.IsCancellationRequested)
            {
                return;
            }
        }
    }

    // One connection from connect to close. Each wait gets StepTimeout (the deadline is restarted).
    private async Task ConnectionAsync(long id, ChurnKind kind, CancellationTokenSource deadline, CancellationToken stop)
    {
        var lifetime = TimeSpan.FromMilliseconds(id * 7_919 % MaxLifetimeMilliseconds);
        deadline.CancelAfter(StepTimeout);
        if (kind == ChurnKind.NoHello)
        {
            using var silent = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            await silent.ConnectAsync(endPoint, deadline.Token);
            await Task.Delay(lifetime, stop).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            return;
        }

        var socket = await BenchRunner.ConnectAsync(endPoint, string.Create(CultureInfo.InvariantCulture, $"c{id}"), deadline.Token);
        var welcomed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var receiving = Task.Run(() => ReceiveAsync(socket, welcomed), CancellationToken.None);
        try
        {
            await welcomed.Task.WaitAsync(deadline.Token);

            var chats = (int)(id / _completed.Length % (MaxChats + 1));
            var line = BenchPayload.CreateLine(BenchPayload.ChurnSender, 64);
            for (var chat = 0; chat < chats; chat++)
            {
                BenchPayload.Stamp(line, chat, Stopwatch.GetTimestamp());
                await SendAsync(socket, line, deadline.Token);
                Interlocked.Increment(ref _chats);
            }

            await Task.Delay(lifetime, stop).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            deadline.CancelAfter(StepTimeout);
            switch (kind)
            {
                case ChurnKind.Reset:
                    socket.LingerState = new LingerOption(enable: true, seconds: 0);
                    break;
                case ChurnKind.HalfLine:
                    await SendAsync(socket, HalfLine, deadline.Token);
                    socket.Shutdown(SocketShutdown.Send);
                    await ClosedByBrokerAsync(receiving, deadline.Token);
                    break;
                default:
                    socket.Shutdown(SocketShutdown.Send);
                    await ClosedByBrokerAsync(receiving, deadline.Token);
                    break;
            }
        }
        finally
        {
            socket.Dispose();
            await receiving;
        }
    }

    private static async Task ClosedByBrokerAsync(Task receiving, CancellationToken cancellationToken)
    {
        try
        {
            await receiving.WaitAsync(cancellationToken);
        }
        catch (OperationCanceledException) when (!receiving.IsCompleted)
        {
            throw new IOException($"the broker did not close the connection within {StepTimeout.TotalSeconds:0} s of the leave");
        }
    }

    private static async Task SendAsync(Socket socket, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        while (!data.IsEmpty)
        {
            var sent = await socket.SendAsync(data, SocketFlags.None, cancellationToken);
            data = data[sent..];
        }
    }

    // Reads until the broker closes: the first line must be welcome; the rest is discarded.
    private static async Task ReceiveAsync(Socket socket, TaskCompletionSource welcomed)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(ReceiveBufferSize);
        var filled = 0;
        try
        {
            while (true)
            {
                var read = await socket.ReceiveAsync(welcomed.Task.IsCompleted ? buffer : buffer.AsMemory(filled), SocketFlags.None);
                if (read == 0)
                {
                    break;
                }

                if (welcomed.Task.IsCompleted)
                {
                    continue;
                }

                filled += read;
                var newline = buffer.AsSpan(0, filled).IndexOf((byte)'\n');
                if (newline >= 0)
                {
                    var first = buffer.AsSpan(0, newline);
                    if (first.IndexOf("\"welcome\""u8) >= 0)
                    {
                        welcomed.TrySetResult();
                    }
                    else
                    {
                        welcomed.TrySetException(new IOException($"refused: {Encoding.UTF8.GetString(first)}"));
                    }
                }
                else if (filled == buffer.Length)
                {
                    welcomed.TrySetException(new IOException($"the first line from the broker is longer than {buffer.Length} bytes"));
                }
            }
        }
        catch (Exception exception) when (exception is SocketException or ObjectDisposedException)
        {
            // Closed by this side (reset, or the end of the run), or by the broker.
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
            welcomed.TrySetException(new IOException("the connection closed before welcome"));
        }
    }
}
