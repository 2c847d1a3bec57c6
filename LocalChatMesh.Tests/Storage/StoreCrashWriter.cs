using LocalChatMesh.Storage;
using LocalChatMesh.Storage.Sqlite;

namespace LocalChatMesh.Tests.Storage;

/// <summary>
/// The test assembly's entry point, for the crash test only: <c>dotnet LocalChatMesh.Tests.dll
/// store-writer FILE</c> appends batches to FILE and prints <c>committed ID</c> after each
/// <see cref="IChatStore.AppendAsync"/> completes, until it is killed. (Tests run under
/// <c>dotnet test</c>, which never calls this.)
/// </summary>
internal static class StoreCrashWriter
{
    public const int BatchSize = 100;

    public static readonly ChatStoreRetention KeepAll = new(int.MaxValue, Timeout.InfiniteTimeSpan);

    public static async Task<int> Main(string[] args)
    {
        if (args is not ["store-writer", var path])
        {
            await Console.Error.WriteLineAsync("usage: dotnet LocalChatMesh.Tests.dll store-writer FILE (the store crash test's child process)");
            return 2;
        }

        await using var store = new SqliteChatStore(path);
        var next = (await store.OpenAsync(KeepAll)).LastId + 1;
        await Console.Out.WriteLineAsync("opened");
        await Console.Out.FlushAsync();
        while (next < 10_000_000)
        {
            var batch = Enumerable.Range(0, BatchSize).Select(i => Message(next + i)).ToArray();
            await store.AppendAsync(batch);
            next += BatchSize;
            await Console.Out.WriteLineAsync($"committed {next - 1}");
            await Console.Out.FlushAsync();
        }

        return 0;
    }

    public static StoredChat Message(long id) => StoreDirectory.Chat(id, $"room{id % 5}");
}
