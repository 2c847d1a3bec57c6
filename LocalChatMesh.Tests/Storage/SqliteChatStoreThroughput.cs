using System.Diagnostics;
using LocalChatMesh.Storage;
using LocalChatMesh.Storage.Sqlite;

namespace LocalChatMesh.Tests.Storage;

/// <summary>
/// How many messages per second the store takes in batches (BENCHMARKS.md, "Store"). Explicit: it
/// measures and prints, it asserts no time. Run it in Release:
/// <c>dotnet test LocalChatMesh.Tests -c Release --filter FullyQualifiedName~SqliteChatStoreThroughput --logger "console;verbosity=detailed"</c>
/// </summary>
[Explicit("a measurement, not a test: prints messages per second")]
public class SqliteChatStoreThroughput
{
    [TestCase(10)]
    [TestCase(100)]
    [TestCase(1000)]
    [TestCase(10_000)]
    public async Task Appends_in_batches(int batchSize)
    {
        const int Rooms = 10;
        const int Total = 1_000_000;
        using var directory = new StoreDirectory();
        await using var store = new SqliteChatStore(directory.File());
        // The default retention: 1,000 per room, so after the first 10,000 messages every batch also
        // deletes as many as it adds (the steady state of a busy broker).
        await store.OpenAsync(ChatStoreRetention.Default);
        var now = DateTimeOffset.UtcNow;
        var batches = Enumerable.Range(0, Total / batchSize)
            .Select(b => Enumerable.Range(0, batchSize)
                .Select(i => (long)b * batchSize + i + 1)
                .Select(id => new StoredChat(id, $"room-{id % Rooms}", now, $"user{id % 50}", $"a chat line of about forty bytes, no. {id}"))
                .ToArray())
            .ToList();

        // Warm-up: the first 10,000 fill the rooms; not timed.
        var warm = 10_000 / batchSize;
        for (var b = 0; b < warm; b++)
        {
            await store.AppendAsync(batches[b]);
        }

        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        for (var b = warm; b < batches.Count; b++)
        {
            await store.AppendAsync(batches[b]);
        }

        clock.Stop();
        cpu = Process.GetCurrentProcess().TotalProcessorTime - cpu;
        var timed = (batches.Count - warm) * batchSize;
        var size = new FileInfo(directory.File()).Length + new FileInfo(directory.File() + "-wal").Length;
        TestContext.Out.WriteLine(
            $"batch {batchSize}: {timed:N0} messages in {clock.Elapsed.TotalSeconds:F2} s = {timed / clock.Elapsed.TotalSeconds:N0} msg/s " +
            $"(process CPU {cpu.TotalSeconds:F2} s; file + WAL {size / 1024.0 / 1024.0:F1} MiB; {store.CountRowsForTesting():N0} rows kept)");
    }
}
