using System.Globalization;

namespace LocalChatMesh.Cli.Bench;

/// <summary>Where a bench run is.</summary>
internal enum BenchPhase
{
    Joining,
    Sending,
    Draining,
    Done,
}

/// <summary>
/// The shape of one workload (who is in which room, who hears whom, what each client must
/// receive) and what the receive loops report back to the run: everyone joined, everyone has
/// everything, and the counts so far for a progress line.
/// </summary>
internal sealed class BenchProgress
{
    private readonly TaskCompletionSource _allJoined = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _allDelivered = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Lock _lock = new();
    private readonly List<BenchClient> _clients = [];
    private readonly int[] _members;
    private readonly int[] _roomSenders;
    private readonly bool _silentClient;
    private int _joined;
    private int _done;
    private volatile BenchPhase _phase;

    public BenchProgress(BenchOptions options)
    {
        Clients = options.Clients;
        Senders = options.Senders;
        Messages = options.Messages;
        Rooms = options.Rooms;
        Direct = options.Direct;
        _silentClient = options.SilentClient;
        _members = new int[Rooms];
        _roomSenders = new int[Rooms];
        for (var client = 0; client < Clients; client++)
        {
            _members[RoomOf(client)]++;
            if (client < Senders)
            {
                _roomSenders[RoomOf(client)]++;
            }
        }

        for (var client = 0; client < Clients; client++)
        {
            ExpectedTotal += ExpectedFor(client);
            if (ExpectedFor(client) == 0)
            {
                _done++;
            }
        }

        if (_done == Clients)
        {
            _allDelivered.TrySetResult();
        }
    }

    public int Clients { get; }

    public int Senders { get; }

    public int Messages { get; }

    /// <summary>Rooms the clients are spread over; 1 is the v1 lobby.</summary>
    public int Rooms { get; }

    public bool Direct { get; }

    /// <summary>Every client receives every sender's messages (v1, the lobby).</summary>
    public long ExpectedPerClient => (long)Senders * Messages;

    /// <summary>Deliveries the whole run expects, every client together.</summary>
    public long ExpectedTotal { get; }

    public BenchPhase Phase
    {
        get => _phase;
        set => _phase = value;
    }

    public int Joined => Volatile.Read(ref _joined);

    /// <summary>Completes when every receiving client has its welcome (and room) and has seen all the others.</summary>
    public Task AllJoined => _allJoined.Task;

    /// <summary>Completes when every receiving client has every message once.</summary>
    public Task AllDelivered => _allDelivered.Task;

    /// <summary>The room index of a client (0 when there are no rooms).</summary>
    public int RoomOf(int client) => client % Rooms;

    /// <summary>The nickname of client <paramref name="client"/>.</summary>
    public static string NicknameOf(int client) => string.Create(CultureInfo.InvariantCulture, $"b{client}");

    public static string RoomName(int room) => string.Create(CultureInfo.InvariantCulture, $"bench-{room}");

    /// <summary>Receiving clients in a room.</summary>
    public int MembersOf(int room) => _members[room];

    public int SendersIn(int room) => _roomSenders[room];

    /// <summary>A client's partner in the direct workload.</summary>
    public static int PeerOf(int client) => client ^ 1;

    /// <summary>How many others a client must see in its roster (or <c>joined</c>) and joins.</summary>
    public int ExpectedOthers(int client) => Rooms > 1
        ? MembersOf(RoomOf(client)) - 1 + (_silentClient && RoomOf(client) == 0 ? 1 : 0)
        : Clients - 1 + (_silentClient ? 1 : 0);

    /// <summary>Whether a client should receive what a sender sends.</summary>
    public bool Hears(int client, int sender) =>
        Direct ? sender == client || sender == PeerOf(client) : RoomOf(sender) == RoomOf(client);

    /// <summary>Deliveries one client expects.</summary>
    public long ExpectedFor(int client) => Direct
        ? ((client < Senders ? 1L : 0) + (PeerOf(client) < Senders ? 1L : 0)) * Messages
        : (long)SendersIn(RoomOf(client)) * Messages;

    public void Register(BenchClient client)
    {
        lock (_lock)
        {
            _clients.Add(client);
        }
    }

    /// <summary>Chat lines received so far by every registered client, duplicates included.</summary>
    public long Delivered
    {
        get
        {
            lock (_lock)
            {
                return _clients.Sum(client => client.Received);
            }
        }
    }

    /// <summary>Messages sent so far by every registered client.</summary>
    public long Sent
    {
        get
        {
            lock (_lock)
            {
                return _clients.Sum(client => client.Sent);
            }
        }
    }

    /// <summary>One short line for a terminal: the phase and its counts.</summary>
    public string Describe() => Phase switch
    {
        BenchPhase.Joining => string.Create(CultureInfo.InvariantCulture, $"joining: {Joined:N0} of {Clients:N0} clients"),
        BenchPhase.Sending or BenchPhase.Draining => string.Create(
            CultureInfo.InvariantCulture,
            $"{(Phase == BenchPhase.Sending ? "sending" : "draining")}: sent {Sent:N0} of {(long)Senders * Messages:N0}, delivered {Delivered:N0} of {ExpectedTotal:N0}"),
        _ => "done",
    };

    public void ClientJoined()
    {
        if (Interlocked.Increment(ref _joined) == Clients)
        {
            _allJoined.TrySetResult();
        }
    }

    public void ClientDone()
    {
        if (Interlocked.Increment(ref _done) == Clients)
        {
            _allDelivered.TrySetResult();
        }
    }
}
