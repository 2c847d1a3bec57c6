using System.Diagnostics;
using LocalChatMesh.Storage;
using LocalChatMesh.Storage.Sqlite;
using Microsoft.Data.Sqlite;

namespace LocalChatMesh.Tests.Storage;

/// <summary>Each way a store can fail is one clear line naming the file, and nothing is reset.</summary>
public class SqliteChatStoreFailureTests
{
    private StoreDirectory _directory = null!;

    [SetUp]
    public void SetUp() => _directory = new StoreDirectory();

    [TearDown]
    public void TearDown() => _directory.Dispose();

    [Test]
    public async Task A_file_of_random_bytes_is_refused_and_left_as_it_was()
    {
        var path = _directory.File();
        var bytes = new byte[8192];
        new Random(11).NextBytes(bytes);
        await File.WriteAllBytesAsync(path, bytes);

        var error = await OpenFailsAsync(path);

        Assert.That(error.Message, Is.EqualTo(
            $"store '{path}' is not a usable chat store (the file is not an SQLite database); move it away to start a new one, nothing was changed"));
        Assert.That(await File.ReadAllBytesAsync(path), Is.EqualTo(bytes));
    }

    [Test]
    public async Task A_store_with_damaged_pages_is_refused()
    {
        var path = _directory.File();
        await using (var store = new SqliteChatStore(path))
        {
            await store.OpenAsync(ChatStoreRetention.Default);
            await store.AppendAsync(StoreDirectory.Chats(1, 2000));
        }

        // Keep the header page, so it still looks like SQLite, and overwrite the rest.
        var bytes = await File.ReadAllBytesAsync(path);
        Array.Fill(bytes, (byte)0xA5, 4096, bytes.Length - 4096);
        await File.WriteAllBytesAsync(path, bytes);

        var error = await OpenFailsAsync(path);

        Assert.That(error.Message, Does.StartWith($"store '{path}' is not a usable chat store ("));
    }

    [Test]
    public async Task Another_applications_database_is_refused()
    {
        var path = _directory.File();
        StoreDirectory.Execute(path, "CREATE TABLE accounts (id INTEGER PRIMARY KEY, name TEXT)");

        var error = await OpenFailsAsync(path);

        Assert.That(error.Message, Does.Contain("is not a usable chat store (it is an SQLite database with other tables)"));
    }

    [Test]
    public async Task A_newer_schema_is_refused()
    {
        var path = _directory.File();
        await using (var store = new SqliteChatStore(path))
        {
            await store.OpenAsync(ChatStoreRetention.Default);
        }

        StoreDirectory.Execute(path, "PRAGMA user_version = 3");

        var error = await OpenFailsAsync(path);

        Assert.That(error.Message, Is.EqualTo(
            $"store '{path}' was written by a newer version of Local Chat Mesh (schema 3; this version knows up to 2)"));
    }

    [Test]
    public async Task A_second_store_on_the_same_file_is_refused_until_the_first_closes()
    {
        var path = _directory.File();
        var first = new SqliteChatStore(path);
        await first.OpenAsync(ChatStoreRetention.Default);
        await first.AppendAsync(StoreDirectory.Chats(1, 3));

        var error = await OpenFailsAsync(path);
        Assert.That(error.Message, Does.StartWith($"store '{path}' is in use by another process: one broker per store"));

        // The refused open changed nothing: the first store goes on, and its file opens once it is closed.
        await first.AppendAsync(StoreDirectory.Chats(4, 2));
        await first.DisposeAsync();
        await using var second = new SqliteChatStore(path);
        Assert.That((await second.OpenAsync(ChatStoreRetention.Default)).LastId, Is.EqualTo(5));
    }

    [Test]
    public async Task Another_process_sees_the_lock_and_may_read_the_file_while_the_store_holds_it()
    {
        var path = _directory.File();
        await using var store = new SqliteChatStore(path);
        await store.OpenAsync(ChatStoreRetention.Default);
        await store.AppendAsync(StoreDirectory.Chats(1, 3));
        // A refused open in the same process must not weaken the lock that other processes see.
        Assert.That((await OpenFailsAsync(path)).Message, Does.Contain("is in use by another process"));

        // flock(1) from util-linux takes the same kind of lock as a second broker would.
        Assert.That(await RunAsync("flock", "--nonblock", path + "-lock", "true"), Is.EqualTo((1, "")));
        // Inspecting a running broker's store with the sqlite3 shell works (docs/store.md).
        Assert.That(await RunSqlite3Async(path, "SELECT count(*) FROM chat;"), Is.EqualTo((0, "3\n")));

        await store.DisposeAsync();
        Assert.That(await RunAsync("flock", "--nonblock", path + "-lock", "true"), Is.EqualTo((0, "")));
        Assert.That(File.Exists(path + "-wal"), Is.False, "the last connection to close removes the log");
    }

    [Test]
    public async Task A_write_ahead_log_left_beside_a_deleted_file_is_not_replayed_into_a_new_store()
    {
        var path = _directory.File();
        await File.WriteAllBytesAsync(path + "-wal", new byte[4096]);

        var error = await OpenFailsAsync(path);

        Assert.That(error.Message, Is.EqualTo(
            $"cannot open store '{path}': the file is missing but its write-ahead log '{path}-wal' is still there; move that away too to start a new store"));
        Assert.That(File.Exists(path), Is.False);
    }

    [Test]
    public async Task A_missing_directory_is_named()
    {
        var path = Path.Combine(_directory.Path, "no-such-dir", "chat.db");

        var error = await OpenFailsAsync(path);

        Assert.That(error.Message, Is.EqualTo(
            $"cannot open store '{path}': directory '{Path.Combine(_directory.Path, "no-such-dir")}' does not exist"));
    }

    [Test]
    public async Task A_path_under_a_regular_file_is_refused()
    {
        var file = _directory.File("plain.txt");
        await File.WriteAllTextAsync(file, "not a directory");
        var path = Path.Combine(file, "chat.db");

        var error = await OpenFailsAsync(path);

        Assert.That(error.Message, Is.EqualTo($"cannot open store '{path}': '{file}' is not a directory"));
    }

    [Test]
    public async Task A_directory_is_not_a_store_file()
    {
        var error = await OpenFailsAsync(_directory.Path);

        Assert.That(error.Message, Is.EqualTo($"cannot open store '{_directory.Path}': it is a directory"));
    }

    [Test]
    public async Task An_immutable_file_is_refused_even_for_root()
    {
        var path = _directory.File();
        await using (var store = new SqliteChatStore(path))
        {
            await store.OpenAsync(ChatStoreRetention.Default);
            await store.AppendAsync(StoreDirectory.Chats(1, 3));
        }

        // chmod does not stop root (the tests run as root here); the immutable attribute does.
        Immutable(path, true);
        try
        {
            var error = await OpenFailsAsync(path);
            Assert.That(error.Message, Is.EqualTo(
                $"cannot open store '{path}': permission denied (the file or its directory is read-only)"));
        }
        finally
        {
            Immutable(path, false);
        }

        await using var reopened = new SqliteChatStore(path);
        Assert.That((await reopened.OpenAsync(ChatStoreRetention.Default)).LastId, Is.EqualTo(3));
    }

    [Test]
    public async Task An_immutable_directory_is_refused_even_for_root()
    {
        var directory = Path.Combine(_directory.Path, "locked");
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, "chat.db");
        Immutable(directory, true);
        try
        {
            var error = await OpenFailsAsync(path);
            Assert.That(error.Message, Is.EqualTo(
                $"cannot open store '{path}': permission denied (the file or its directory is read-only)"));
        }
        finally
        {
            Immutable(directory, false);
        }
    }

    [Test]
    public async Task An_immutable_directory_with_an_existing_store_is_refused_even_for_root()
    {
        // The file itself is writable, but the write-ahead log beside it cannot be created.
        var directory = Path.Combine(_directory.Path, "locked");
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, "chat.db");
        await using (var store = new SqliteChatStore(path))
        {
            await store.OpenAsync(ChatStoreRetention.Default);
        }

        Immutable(directory, true);
        try
        {
            var error = await OpenFailsAsync(path);
            Assert.That(error.Message, Is.EqualTo(
                $"cannot open store '{path}': the file or its write-ahead log beside it cannot be opened for writing (unable to open database file)"));
        }
        finally
        {
            Immutable(directory, false);
        }
    }

    [Test]
    public async Task A_full_disk_fails_the_append_and_keeps_what_was_committed()
    {
        var path = _directory.File();
        var options = new SqliteChatStoreOptions { MaxPageCount = 64 };
        var retention = new ChatStoreRetention(1_000_000, Timeout.InfiniteTimeSpan);
        await using (var store = new SqliteChatStore(path, options))
        {
            await store.OpenAsync(retention);
            await store.AppendAsync(StoreDirectory.Chats(1, 10));
            var big = Enumerable.Range(11, 2000).Select(i => StoreDirectory.Chat(i) with { Text = new string('x', 500) }).ToArray();

            var error = Assert.ThrowsAsync<ChatStoreException>(() => store.AppendAsync(big))!;

            Assert.That(error.Message, Is.EqualTo(
                $"cannot write store '{path}': the disk is full (a batch of 2000 messages, ids 11-2010, was not stored)"));
            // The failed batch left no trace: the same ids can be offered again, and small ones still fit.
            await store.AppendAsync(StoreDirectory.Chats(11, 2));
        }

        await using var reopened = new SqliteChatStore(path);
        var snapshot = await reopened.OpenAsync(retention);
        Assert.That(snapshot.LastId, Is.EqualTo(12));
        Assert.That(snapshot.Messages.Select(m => m.Id), Is.EqualTo(Enumerable.Range(1, 12).Select(i => (long)i)));
    }

    private static async Task<ChatStoreException> OpenFailsAsync(string path)
    {
        await using var store = new SqliteChatStore(path);
        var error = Assert.ThrowsAsync<ChatStoreException>(() => store.OpenAsync(ChatStoreRetention.Default))!;
        TestContext.Out.WriteLine(error.Message);
        Assert.That(error.Message, Does.Not.Contain('\n').And.Contain(path));
        return error;
    }

    // The sqlite3 shell, as a person inspecting the store would use it (Debian's sqlite3 package).
    private static Task<(int ExitCode, string Output)> RunSqlite3Async(string path, string sql) => RunAsync("sqlite3", path, sql);

    private static async Task<(int ExitCode, string Output)> RunAsync(string program, params string[] arguments)
    {
        Process? shell;
        try
        {
            shell = Process.Start(new ProcessStartInfo(program, arguments)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            });
        }
        catch (System.ComponentModel.Win32Exception)
        {
            shell = null;
        }

        if (shell is null)
        {
            Assert.Ignore($"{program} is not installed");
        }

        using (shell)
        {
            var output = shell!.StandardOutput.ReadToEndAsync();
            var error = shell.StandardError.ReadToEndAsync();
            await shell.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
            return (shell.ExitCode, await output + await error);
        }
    }

    private static void Immutable(string path, bool on)
    {
        using var chattr = Process.Start(new ProcessStartInfo("chattr", [on ? "+i" : "-i", path]) { RedirectStandardError = true })!;
        var error = chattr.StandardError.ReadToEnd();
        chattr.WaitForExit();
        if (chattr.ExitCode != 0)
        {
            if (on)
            {
                Assert.Ignore($"chattr +i is not available here: {error.Trim()}");
            }

            Assert.Fail($"chattr -i {path} failed: {error.Trim()}");
        }
    }
}
