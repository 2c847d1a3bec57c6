using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace LocalChatMesh.Tests.Diagnostics;

public class MetricsTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    [Test]
    public async Task A_MeterListener_sees_connections_messages_bytes_and_disconnect_reasons()
    {
        await using var broker = await ChatBroker.StartAsync(BrokerOptions.Default with { EndPoint = new IPEndPoint(IPAddress.Loopback, 0) });
        var totals = new ConcurrentDictionary<string, long>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (ReferenceEquals(instrument.Meter, broker.Meter))
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            var name = instrument.Name;
            foreach (var tag in tags)
            {
                name += $"[{tag.Key}={tag.Value}]";
            }

            totals.AddOrUpdate(name, value, (_, total) => total + value);
        });
        listener.Start();
        var aliceLeft = new TaskCompletionSource();
        using var events = broker.Events.Subscribe(e =>
        {
            if (e is ClientDisconnectedEvent { Reason: DisconnectReason.ClientClosed })
            {
                aliceLeft.TrySetResult();
            }
        });

        using (var alice = await ConnectAsync(broker))
        {
            await SendAsync(alice, """{"type":"hello","nickname":"alice"}""");
            await ReadLineAsync(alice);
            await SendAsync(alice, """{"type":"chat","text":"metered"}""");
            await ReadLineAsync(alice);
        }

        using (var refused = await ConnectAsync(broker))
        {
            await SendAsync(refused, """{"type":"chat","text":"no hello"}""");
            await ReadLineAsync(refused);
        }

        await aliceLeft.Task.WaitAsync(Deadline);
        listener.RecordObservableInstruments();

        Assert.Multiple(() =>
        {
            Assert.That(totals.GetValueOrDefault("chatmesh.connections.accepted"), Is.EqualTo(2));
            Assert.That(totals.GetValueOrDefault("chatmesh.disconnects[reason=client_closed]"), Is.EqualTo(1));
            Assert.That(totals.GetValueOrDefault("chatmesh.handshakes.accepted"), Is.EqualTo(1));
            Assert.That(totals.GetValueOrDefault("chatmesh.handshakes.refused[reason=handshake_refused]"), Is.EqualTo(1));
            Assert.That(totals.GetValueOrDefault("chatmesh.disconnects[reason=handshake_refused]"), Is.EqualTo(1));
            Assert.That(totals.GetValueOrDefault("chatmesh.messages.received"), Is.EqualTo(3));
            Assert.That(totals.GetValueOrDefault("chatmesh.messages.delivered"), Is.EqualTo(3), "welcome, the chat, and the refusal");
            Assert.That(totals.GetValueOrDefault("chatmesh.bytes.received"), Is.GreaterThan(60));
            Assert.That(totals.GetValueOrDefault("chatmesh.bytes.sent"), Is.GreaterThan(60));
            Assert.That(totals.ContainsKey("chatmesh.connections"), Is.True, "the observable instruments report too");
        });
    }

    private static async Task<Socket> ConnectAsync(ChatBroker broker)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(broker.LocalEndPoint).WaitAsync(Deadline);
        return socket;
    }

    private static async Task SendAsync(Socket socket, string line) =>
        await socket.SendAsync(Encoding.UTF8.GetBytes(line + "\n").AsMemory()).AsTask().WaitAsync(Deadline);

    private static async Task<string> ReadLineAsync(Socket socket)
    {
        var bytes = new List<byte>();
        var one = new byte[1];
        while (await socket.ReceiveAsync(one.AsMemory()).AsTask().WaitAsync(Deadline) == 1 && one[0] != '\n')
        {
            bytes.Add(one[0]);
        }

        return Encoding.UTF8.GetString([.. bytes]);
    }
}
