using LocalChatMesh.Storage;
using Microsoft.Data.Sqlite;

namespace LocalChatMesh.Tests.Storage;

/// <summary>A fresh temporary directory for store files, deleted on dispose; and message makers.</summary>
internal sealed class StoreDirectory : IDisposable
{
    public static readonly DateTimeOffset Start = new(2026, 12, 1, 8, 0, 0, TimeSpan.Zero);

    public StoreDirectory()
    {
        Path = Directory.CreateTempSubdirectory("chatmesh-store-").FullName;
    }

    public string Path { get; }

    public string File(string name = "chat.db") => System.IO.Path.Combine(Path, name);

    /// <summary>A chat whose fields follow from its id, one millisecond apart from <see cref="Start"/>.</summary>
    public static StoredChat Chat(long id, string room = "lobby", DateTimeOffset? time = null) =>
        new(id, room, time ?? Start.AddMilliseconds(id), $"user{id % 7}", $"message {id} in {room}");

    public static StoredChat[] Chats(long firstId, int count, string room = "lobby") =>
        [.. Enumerable.Range(0, count).Select(i => Chat(firstId + i, room))];

    /// <summary>Runs SQL on the file through a connection of its own, as another program would.</summary>
    public static void Execute(string path, string sql) => OnOwnConnection(path, sql, command => command.ExecuteNonQuery());

    /// <summary>The first value SQL gives on the file, read through a connection of its own.</summary>
    public static object? Query(string path, string sql) => OnOwnConnection(path, sql, command => command.ExecuteScalar());

    private static T OnOwnConnection<T>(string path, string sql, Func<SqliteCommand, T> run)
    {
        using var connection = new SqliteConnection($"Data Source={path};Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return run(command);
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // A file a test could not release (it would have failed already); the OS cleans /tmp.
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
