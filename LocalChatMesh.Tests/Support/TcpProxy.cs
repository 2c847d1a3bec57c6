using System.Net;
using System.Net.Sockets;
using System.Text;

namespace LocalChatMesh.Tests.Support;

/// <summary>
/// A TCP proxy on 127.0.0.1 in front of a broker, whose connections a test can cut the way a
/// network does: <see cref="CutClients"/> resets the client side of every current connection and
/// holds the broker side open, so the broker still believes the client is there (what it sends
/// there is kept in <see cref="Held"/>). New connections are forwarded as usual.
/// </summary>
internal sealed class TcpProxy : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly IPEndPoint _target;
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _lock = new();
    private readonly List<Pair> _pairs = [];
    private readonly List<Pair> _all = [];
    private readonly StringBuilder _held = new();
    private readonly Task _accepting;

    private TcpProxy(IPEndPoint target)
    {
        _target = target;
        _listener.Start();
        _accepting = AcceptAsync();
    }

    public IPEndPoint EndPoint => (IPEndPoint)_listener.LocalEndpoint;

    /// <summary>What the broker sent on connections after they were cut.</summary>
    public string Held
    {
        get
        {
            lock (_lock)
            {
                return _held.ToString();
            }
        }
    }

    public static TcpProxy Start(IPEndPoint target) => new(target);

    /// <summary>Resets every current client connection (RST); the broker's side stays open and unanswered.</summary>
    public void CutClients()
    {
        Pair[] pairs;
        lock (_lock)
        {
            pairs = [.. _pairs];
            _pairs.Clear();
        }

        foreach (var pair in pairs)
        {
            pair.Cut = true;
            pair.Client.LingerState = new LingerOption(true, 0);
            pair.Client.Close();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        try
        {
            await _accepting;
        }
        catch (Exception exception) when (exception is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }

        Pair[] pairs;
        lock (_lock)
        {
            pairs = [.. _all];
        }

        foreach (var pair in pairs)
        {
            pair.Client.Dispose();
            pair.Server.Dispose();
        }

        _stop.Dispose();
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            var client = await _listener.AcceptSocketAsync(_stop.Token);
            var server = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            client.NoDelay = true;
            try
            {
                await server.ConnectAsync(_target, _stop.Token);
            }
            catch (SocketException)
            {
                client.LingerState = new LingerOption(true, 0);
                client.Dispose();
                server.Dispose();
                continue;
            }

            var pair = new Pair(client, server);
            lock (_lock)
            {
                _pairs.Add(pair);
                _all.Add(pair);
            }

            _ = PumpToServerAsync(pair);
            _ = PumpToClientAsync(pair);
        }
    }

    private static async Task PumpToServerAsync(Pair pair)
    {
        var buffer = new byte[16 * 1024];
        try
        {
            int read;
            while ((read = await pair.Client.ReceiveAsync(buffer, SocketFlags.None)) > 0)
            {
                await pair.Server.SendAsync(buffer.AsMemory(0, read), SocketFlags.None);
            }

            if (!pair.Cut)
            {
                pair.Server.Shutdown(SocketShutdown.Send);
            }
        }
        catch (Exception exception) when (exception is SocketException or ObjectDisposedException)
        {
            if (!pair.Cut)
            {
                pair.Server.Dispose();
            }
        }
    }

    private async Task PumpToClientAsync(Pair pair)
    {
        var buffer = new byte[16 * 1024];
        try
        {
            int read;
            while ((read = await pair.Server.ReceiveAsync(buffer, SocketFlags.None)) > 0)
            {
                if (!pair.Cut)
                {
                    try
                    {
                        await pair.Client.SendAsync(buffer.AsMemory(0, read), SocketFlags.None);
                        continue;
                    }
                    catch (Exception exception) when (exception is SocketException or ObjectDisposedException && pair.Cut)
                    {
                    }
                }

                lock (_lock)
                {
                    _held.Append(Encoding.UTF8.GetString(buffer, 0, read));
                }
            }

            if (!pair.Cut)
            {
                pair.Client.Shutdown(SocketShutdown.Send);
            }
        }
        catch (Exception exception) when (exception is SocketException or ObjectDisposedException)
        {
            if (!pair.Cut)
            {
                pair.Client.Dispose();
            }
        }
    }

    private sealed class Pair(Socket client, Socket server)
    {
        public Socket Client { get; } = client;

        public Socket Server { get; } = server;

        public volatile bool Cut;
    }
}
