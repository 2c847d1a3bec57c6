using System.Net;
using LocalChatMesh.Protocol;
using LocalChatMesh.Samples.HostedBroker;
using LocalChatMesh.Tests.Support;

namespace LocalChatMesh.Tests.Samples;

/// <summary>samples/HostedBroker run in-process: <see cref="ChatRoomHost"/> on 127.0.0.1 port 0.</summary>
public class HostedBrokerSampleTests
{
    [Test]
    public async Task Clients_chat_through_the_hosted_room_and_the_transcript_records_it()
    {
        await using var room = await Room.OpenAsync();

        await using var alice = await ChatClient.ConnectAsync(room.EndPoint, "alice");
        await using var bob = await RawClient.JoinAsync(room.EndPoint, "bob");
        Assert.That(await bob.ExpectAsync<RosterMessage>(), Is.EqualTo(new RosterMessage(["alice"])));

        await alice.SendAsync("hello bob");
        await bob.ExpectChatAsync("alice", "hello bob");

        await alice.DisposeAsync();
        Assert.That(await bob.ExpectAsync<UserLeftMessage>(), Is.EqualTo(new UserLeftMessage("alice")));

        var closing = room.CloseAsync();
        Assert.That(await bob.WaitForClosedAsync(), Is.EqualTo(new[] { new ErrorMessage("broker shutting down") }));
        await bob.DisposeAsync(); // The broker lets a client read its last message before the close.
        await closing;
        Assert.That(room.Transcript(), Is.EqualTo(new[]
        {
            $"room open on {room.EndPoint}",
            "alice joined",
            "bob joined",
            "alice: hello bob",
            "alice left (ClientClosed)",
            "bob left (Shutdown)",
            "room closed",
        }));
    }

    [Test]
    public async Task Cancelling_closes_the_room_and_a_connected_client_hears_why()
    {
        await using var room = await Room.OpenAsync();
        await using var carol = await ChatClient.ConnectAsync(room.EndPoint, "carol");
        var heard = carol.ReadMessagesAsync().ToListAsync().AsTask();

        await room.CloseAsync();

        Assert.That(await heard.WaitAsync(RawClient.Deadline), Is.EqualTo(new[] { new ErrorMessage("broker shutting down") }));
        Assert.That(await carol.Completion.WaitAsync(RawClient.Deadline), Is.EqualTo(ChatClientCloseReason.ClosedByServer));
        Assert.That(room.Transcript()[^2..], Is.EqualTo(new[] { "carol left (Shutdown)", "room closed" }));
    }

    [Test]
    public async Task The_room_listens_on_the_port_the_system_picked()
    {
        await using var room = await Room.OpenAsync();

        Assert.That(room.EndPoint.Address, Is.EqualTo(IPAddress.Loopback));
        Assert.That(room.EndPoint.Port, Is.Not.Zero);
        Assert.That(room.Transcript(), Is.EqualTo(new[] { $"room open on {room.EndPoint}" }));
    }

    /// <summary><see cref="ChatRoomHost.RunAsync"/> in the background, stopped by its token.</summary>
    private sealed class Room : IAsyncDisposable
    {
        private readonly StringWriter _output = new();
        private readonly TextWriter _synchronized;
        private readonly CancellationTokenSource _stop = new();
        private Task _running = Task.CompletedTask;

        private Room() => _synchronized = TextWriter.Synchronized(_output);

        public IPEndPoint EndPoint { get; private set; } = null!;

        public static async Task<Room> OpenAsync()
        {
            var room = new Room();
            var started = new TaskCompletionSource<IPEndPoint>(TaskCreationOptions.RunContinuationsAsynchronously);
            room._running = ChatRoomHost.RunAsync(new IPEndPoint(IPAddress.Loopback, 0), room._synchronized, started.SetResult, room._stop.Token);

            // A room that fails to start must fail the test with its own exception, not a timeout.
            await Task.WhenAny(started.Task, room._running).WaitAsync(RawClient.Deadline);
            if (room._running.IsCompleted)
            {
                await room._running;
                Assert.Fail("the room stopped before it started listening");
            }

            room.EndPoint = await started.Task;
            return room;
        }

        /// <summary>Cancels the room's token and waits for <see cref="ChatRoomHost.RunAsync"/> to return.</summary>
        public async Task CloseAsync()
        {
            await _stop.CancelAsync();
            await _running.WaitAsync(RawClient.Deadline);
        }

        public string[] Transcript()
        {
            lock (_synchronized)
            {
                return _output.ToString().Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries);
            }
        }

        public async ValueTask DisposeAsync()
        {
            await CloseAsync();
            _stop.Dispose();
            await _synchronized.DisposeAsync();
        }
    }
}
