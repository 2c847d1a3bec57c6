using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;

namespace LocalChatMesh.Tests.Support;

/// <summary>
/// A minimal scripted broker for protocol v2 (PROTOCOL.md "Version 2"), only as much as the
/// bench's <c>--rooms</c> and <c>--direct</c> workloads need: <c>hello</c> with capabilities gets
/// <c>welcome</c> with the granted ones and a session; <c>join</c> gets <c>joined</c> (the others
/// see <c>user_joined</c>); <c>chat</c> goes to the room's members, <c>direct</c> to recipient and
/// sender, both with <c>id</c> and <c>time</c>. A client that was not granted <c>rooms</c> is in
/// <c>lobby</c> and gets a v1 roster. Everything runs under one lock, writes included.
/// </summary>
internal sealed class FakeV2Broker : IAsyncDisposable
{
    private static readonly string[] Known = ["rooms", "direct", "meta"];

    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly Lock _lock = new();
    private readonly List<Member> _members = [];
    private readonly List<Task> _connections = [];
    private readonly Task _accepting;
    private long _nextId;

    /// <param name="ignoreRooms">Misbehave: send every chat to every client, whatever its room.</param>
    public FakeV2Broker(bool ignoreRooms = false)
    {
        IgnoreRooms = ignoreRooms;
        _listener.Start();
        EndPoint = (IPEndPoint)_listener.LocalEndpoint;
        _accepting = AcceptAsync();
    }

    public IPEndPoint EndPoint { get; }

    public bool IgnoreRooms { get; }

    /// <summary>Every line the clients sent, except chats and directs (those are only counted).</summary>
    public ConcurrentQueue<string> ControlLines { get; } = new();

    public async ValueTask DisposeAsync()
    {
        _listener.Stop();
        await _accepting.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        lock (_lock)
        {
            foreach (var member in _members)
            {
                member.Socket.Dispose();
            }
        }

        await Task.WhenAll(_connections).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    private async Task AcceptAsync()
    {
        while (true)
        {
            var socket = await _listener.AcceptSocketAsync();
            lock (_lock)
            {
                _connections.Add(Task.Run(() => ServeAsync(socket)));
            }
        }
    }

    private async Task ServeAsync(Socket socket)
    {
        var member = new Member(socket);
        using var reader = new StreamReader(new NetworkStream(socket, ownsSocket: false), new UTF8Encoding(false));
        try
        {
            while (await reader.ReadLineAsync() is { } line)
            {
                var message = JsonNode.Parse(line)!.AsObject();
                var type = (string)message["type"]!;
                if (type is not ("chat" or "direct"))
                {
                    ControlLines.Enqueue(line);
                }

                lock (_lock)
                {
                    Handle(member, type, message);
                }
            }
        }
        catch (Exception exception) when (exception is IOException or SocketException or ObjectDisposedException)
        {
        }
        finally
        {
            lock (_lock)
            {
                _members.Remove(member);
            }

            socket.Dispose();
        }
    }

    private void Handle(Member member, string type, JsonObject message)
    {
        switch (type)
        {
            case "hello":
                member.Nickname = (string)message["nickname"]!;
                var asked = message["capabilities"]?.AsArray().Select(c => (string)c!).ToHashSet() ?? [];
                member.Capabilities = [.. Known.Where(asked.Contains)];
                _members.Add(member);
                Send(member, new JsonObject
                {
                    ["type"] = "welcome",
                    ["nickname"] = member.Nickname,
                    ["capabilities"] = new JsonArray([.. member.Capabilities.Select(c => JsonValue.Create(c))]),
                    ["session"] = "s-" + member.Nickname,
                });
                if (!member.Capabilities.Contains("rooms"))
                {
                    Enter(member, "lobby", v1: true);
                }

                break;
            case "join":
                Enter(member, (string)message["room"]!, v1: false);
                break;
            case "chat":
                var room = (string?)message["room"] ?? "lobby";
                var chat = new JsonObject
                {
                    ["type"] = "chat",
                    ["nickname"] = member.Nickname,
                    ["text"] = (string)message["text"]!,
                    ["room"] = room,
                    ["id"] = ++_nextId,
                    ["time"] = DateTime.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture),
                };
                foreach (var other in _members.Where(m => IgnoreRooms || m.Room == room))
                {
                    Send(other, chat);
                }

                break;
            case "direct":
                var to = (string)message["to"]!;
                var direct = new JsonObject
                {
                    ["type"] = "direct",
                    ["from"] = member.Nickname,
                    ["to"] = to,
                    ["text"] = (string)message["text"]!,
                    ["id"] = ++_nextId,
                    ["time"] = DateTime.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture),
                };
                foreach (var other in _members.Where(m => m.Nickname == to || m == member).Distinct())
                {
                    Send(other, direct);
                }

                break;
        }
    }

    private void Enter(Member member, string room, bool v1)
    {
        var others = _members.Where(m => m != member && m.Room == room).Select(m => m.Nickname!).ToList();
        member.Room = room;
        if (!v1)
        {
            Send(member, new JsonObject { ["type"] = "joined", ["room"] = room, ["participants"] = new JsonArray([.. others.Select(n => JsonValue.Create(n))]) });
        }
        else if (others.Count > 0)
        {
            Send(member, new JsonObject { ["type"] = "roster", ["participants"] = new JsonArray([.. others.Select(n => JsonValue.Create(n))]) });
        }

        foreach (var other in _members.Where(m => m != member && m.Room == room))
        {
            Send(other, v1 ? new JsonObject { ["type"] = "user_joined", ["nickname"] = member.Nickname } : new JsonObject { ["type"] = "user_joined", ["nickname"] = member.Nickname, ["room"] = room });
        }
    }

    private static void Send(Member member, JsonObject message)
    {
        try
        {
            member.Socket.Send(Encoding.UTF8.GetBytes(message.ToJsonString() + "\n"));
        }
        catch (Exception exception) when (exception is SocketException or ObjectDisposedException)
        {
        }
    }

    private sealed class Member(Socket socket)
    {
        public Socket Socket { get; } = socket;

        public string? Nickname { get; set; }

        public string[] Capabilities { get; set; } = [];

        public string? Room { get; set; }
    }
}
