using LocalChatMesh.Cluster;
using System.Text;
using LocalChatMesh.Cluster.Nats;

namespace LocalChatMesh.Tests.Cluster;

/// <summary>
/// Engine options for tests (a fresh cluster name each, so tests share one server; heartbeats every
/// 250 ms with a 2 s timeout: quick, yet a busy box stalling a renewal for a second kills nobody), and waits.
/// </summary>
internal static class ClusterTesting
{
    public static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    public static NatsClusterOptions Options(NatsServerFixture server, string? cluster = null) => new()
    {
        Url = server.Url,
        ClusterName = cluster ?? NewClusterName(),
        HeartbeatInterval = TimeSpan.FromMilliseconds(250),
        HeartbeatTimeout = TimeSpan.FromSeconds(2),
        ReaperInterval = TimeSpan.FromMilliseconds(250),
    };

    public static string NewClusterName() => $"t{Guid.NewGuid():N}"[..13];

    public static byte[] Bytes(string text) => Encoding.UTF8.GetBytes(text);

    public static string Text(ClusterRoomEvent roomEvent) => Encoding.UTF8.GetString(roomEvent.Payload.Span);

    /// <summary>Reads the engine's stream from <paramref name="after"/> until <paramref name="count"/> events came (or the deadline).</summary>
    public static async Task<List<ClusterRoomEvent>> ReadAsync(NatsClusterEngine engine, int count, long after = 0)
    {
        using var deadline = new CancellationTokenSource(Deadline);
        var events = new List<ClusterRoomEvent>();
        await foreach (var roomEvent in engine.ReadAllAsync(after, deadline.Token))
        {
            events.Add(roomEvent);
            if (events.Count == count)
            {
                break;
            }
        }

        return events;
    }

    /// <summary>Polls <paramref name="condition"/> until it holds; false at the deadline.</summary>
    public static async Task<bool> EventuallyAsync(Func<Task<bool>> condition, TimeSpan? within = null)
    {
        var deadline = DateTime.UtcNow + (within ?? Deadline);
        while (DateTime.UtcNow < deadline)
        {
            if (await condition())
            {
                return true;
            }

            await Task.Delay(20);
        }

        return await condition();
    }
}
