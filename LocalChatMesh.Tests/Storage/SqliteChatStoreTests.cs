using LocalChatMesh.Storage;
using LocalChatMesh.Storage.Sqlite;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Time.Testing;

namespace LocalChatMesh.Tests.Storage;

public class SqliteChatStoreTests
{
    private static readonly ChatStoreRetention KeepAll = new(1_000_000, Timeout.InfiniteTimeSpan);

    private StoreDirectory _directory = null!;

    [SetUp]
    public void SetUp() => _directory = new StoreDirectory();

    [TearDown]
    public void TearDown() => _directory.Dispose();

    [Test]
    public async Task A_new_file_opens_empty_with_an_epoch()
    {
        await using var store = new SqliteChatStore(_directory.File());
        var snapshot = await store.OpenAsync(ChatStoreRetention.Default);

        Assert.That(snapshot.LastId, Is.Zero);
        Assert.That(snapshot.Messages, Is.Empty);
        Assert.That(snapshot.Epoch, Does.Match("^[0-9a-f]{32}$"));
        Assert.That(File.Exists(_directory.File()), Is.True);
    }

    [Test]
    public async Task Messages_ids_and_epoch_survive_a_reopen()
    {
        StoredChat[] first = [StoreDirectory.Chat(1, "lobby"), StoreDirectory.Chat(3, "dev"), StoreDirectory.Chat(7, "lobby")];
        StoredChat[] second = [StoreDirectory.Chat(8, "Dev") with { Text = "ünïcödé ✓ \"quoted\"\nnew line, NUL \0 and after", Nickname = "Zoë" }];
        string epoch;
        await using (var store = new SqliteChatStore(_directory.File()))
        {
            epoch = (await store.OpenAsync(ChatStoreRetention.Default)).Epoch;
            await store.AppendAsync(first);
            await store.AppendAsync(second);
        }

        await using var reopened = new SqliteChatStore(_directory.File());
        var snapshot = await reopened.OpenAsync(ChatStoreRetention.Default);

        Assert.That(snapshot.Epoch, Is.EqualTo(epoch));
        Assert.That(snapshot.LastId, Is.EqualTo(8));
        Assert.That(snapshot.Messages, Is.EqualTo(first.Concat(second)));
        Assert.That(snapshot.Messages[0].Time.Offset, Is.EqualTo(TimeSpan.Zero));
    }

    [Test]
    public async Task Times_are_kept_to_the_millisecond_in_utc()
    {
        var local = new DateTimeOffset(2026, 12, 1, 9, 30, 15, 123, TimeSpan.FromHours(2)).AddTicks(4567);
        await using (var store = new SqliteChatStore(_directory.File()))
        {
            await store.OpenAsync(ChatStoreRetention.Default);
            await store.AppendAsync([StoreDirectory.Chat(1, time: local)]);
        }

        await using var reopened = new SqliteChatStore(_directory.File());
        var time = (await reopened.OpenAsync(ChatStoreRetention.Default)).Messages[0].Time;

        Assert.That(time, Is.EqualTo(new DateTimeOffset(2026, 12, 1, 7, 30, 15, 123, TimeSpan.Zero)));
        Assert.That(time.Offset, Is.EqualTo(TimeSpan.Zero));
    }

    [Test]
    public async Task Appending_continues_after_a_reopen_and_refuses_old_ids()
    {
        await using (var store = new SqliteChatStore(_directory.File()))
        {
            await store.OpenAsync(ChatStoreRetention.Default);
            await store.AppendAsync(StoreDirectory.Chats(1, 10));
        }

        await using var reopened = new SqliteChatStore(_directory.File());
        await reopened.OpenAsync(ChatStoreRetention.Default);

        Assert.That(() => reopened.AppendAsync([StoreDirectory.Chat(10)]),
            Throws.ArgumentException.With.Message.Contains("above the last id stored (10)"));
        Assert.That(() => reopened.AppendAsync([StoreDirectory.Chat(12), StoreDirectory.Chat(11)]), Throws.ArgumentException);
        await reopened.AppendAsync([StoreDirectory.Chat(11)]);
        await reopened.AppendAsync([]);
        await reopened.DisposeAsync();

        await using var third = new SqliteChatStore(_directory.File());
        var snapshot = await third.OpenAsync(ChatStoreRetention.Default);
        Assert.That(snapshot.Messages.Select(m => m.Id), Is.EqualTo(Enumerable.Range(1, 11).Select(i => (long)i)));
    }

    [Test]
    public async Task Appends_started_together_are_written_in_call_order()
    {
        await using (var store = new SqliteChatStore(_directory.File()))
        {
            await store.OpenAsync(KeepAll);
            var appends = Enumerable.Range(0, 200).Select(b => store.AppendAsync(StoreDirectory.Chats(b * 5 + 1, 5, $"room{b % 4}"))).ToList();
            await Task.WhenAll(appends);
            // Dispose waits for appends still in flight.
            _ = store.AppendAsync(StoreDirectory.Chats(1001, 5));
        }

        await using var reopened = new SqliteChatStore(_directory.File());
        var snapshot = await reopened.OpenAsync(KeepAll);
        Assert.That(snapshot.Messages.Select(m => m.Id), Is.EqualTo(Enumerable.Range(1, 1005).Select(i => (long)i)));
    }

    [Test]
    public async Task Last_id_survives_when_retention_has_deleted_every_message()
    {
        var time = new FakeTimeProvider(StoreDirectory.Start);
        var options = new SqliteChatStoreOptions { TimeProvider = time };
        var retention = new ChatStoreRetention(100, TimeSpan.FromHours(1));
        await using (var store = new SqliteChatStore(_directory.File(), options))
        {
            await store.OpenAsync(retention);
            await store.AppendAsync([StoreDirectory.Chat(41, "lobby", time.GetUtcNow()), StoreDirectory.Chat(42, "dev", time.GetUtcNow())]);
        }

        time.Advance(TimeSpan.FromHours(2));
        await using var reopened = new SqliteChatStore(_directory.File(), options);
        var snapshot = await reopened.OpenAsync(retention);

        Assert.That(snapshot.Messages, Is.Empty);
        Assert.That(snapshot.LastId, Is.EqualTo(42));
        Assert.That(CountRows(_directory.File(), reopened), Is.Zero);

        // No row holds it any more: the open that deleted them wrote it to meta.
        await reopened.DisposeAsync();
        await using var third = new SqliteChatStore(_directory.File(), options);
        Assert.That((await third.OpenAsync(retention)).LastId, Is.EqualTo(42));
    }

    [Test]
    public async Task Keeps_at_most_the_newest_per_room_on_append_and_on_open()
    {
        await using (var store = new SqliteChatStore(_directory.File()))
        {
            await store.OpenAsync(new ChatStoreRetention(5, Timeout.InfiniteTimeSpan));
            await store.AppendAsync([.. StoreDirectory.Chats(1, 8, "dev"), .. StoreDirectory.Chats(9, 3, "lobby")]);
            await store.AppendAsync([StoreDirectory.Chat(12, "DEV"), StoreDirectory.Chat(13, "lobby")]);
        }

        await using (var store = new SqliteChatStore(_directory.File()))
        {
            var snapshot = await store.OpenAsync(new ChatStoreRetention(5, Timeout.InfiniteTimeSpan));
            Assert.That(snapshot.Messages.Select(m => m.Id), Is.EqualTo(new long[] { 5, 6, 7, 8, 9, 10, 11, 12, 13 }));
            Assert.That(snapshot.LastId, Is.EqualTo(13));
        }

        // A smaller limit at the next open trims the file too.
        await using var smaller = new SqliteChatStore(_directory.File());
        var trimmed = await smaller.OpenAsync(new ChatStoreRetention(2, Timeout.InfiniteTimeSpan));
        Assert.That(trimmed.Messages.Select(m => m.Id), Is.EqualTo(new long[] { 8, 11, 12, 13 }));
        await smaller.AppendAsync([StoreDirectory.Chat(20, "lobby")]);
        await smaller.DisposeAsync();

        await using var last = new SqliteChatStore(_directory.File());
        var snapshotAfter = await last.OpenAsync(new ChatStoreRetention(1000, Timeout.InfiniteTimeSpan));
        Assert.That(snapshotAfter.Messages.Select(m => m.Id), Is.EqualTo(new long[] { 8, 12, 13, 20 }));
    }

    [Test]
    public async Task Drops_messages_older_than_the_age_limit_by_the_time_provider()
    {
        var time = new FakeTimeProvider(StoreDirectory.Start);
        var options = new SqliteChatStoreOptions { TimeProvider = time, AgeTrimInterval = TimeSpan.FromSeconds(30) };
        var retention = new ChatStoreRetention(1000, TimeSpan.FromMinutes(10));
        await using (var store = new SqliteChatStore(_directory.File(), options))
        {
            await store.OpenAsync(retention);
            await store.AppendAsync([StoreDirectory.Chat(1, "lobby", time.GetUtcNow()), StoreDirectory.Chat(2, "dev", time.GetUtcNow())]);
            time.Advance(TimeSpan.FromMinutes(6));
            await store.AppendAsync([StoreDirectory.Chat(3, "dev", time.GetUtcNow())]);
            time.Advance(TimeSpan.FromMinutes(5));
            // 11 minutes on: 1 and 2 are too old, and the age check is due, so this append deletes them.
            await store.AppendAsync([StoreDirectory.Chat(4, "lobby", time.GetUtcNow())]);
            Assert.That(CountRows(_directory.File(), store), Is.EqualTo(2));
        }

        // 17 minutes on: 3 is now too old as well, and open applies the age limit at once.
        time.Advance(TimeSpan.FromMinutes(6));
        await using var reopened = new SqliteChatStore(_directory.File(), options);
        var snapshot = await reopened.OpenAsync(retention);

        Assert.That(snapshot.Messages.Select(m => m.Id), Is.EqualTo(new long[] { 4 }));
        Assert.That(snapshot.LastId, Is.EqualTo(4));
    }

    [Test]
    public async Task Checks_the_age_limit_at_most_once_per_interval()
    {
        var time = new FakeTimeProvider(StoreDirectory.Start);
        var options = new SqliteChatStoreOptions { TimeProvider = time, AgeTrimInterval = TimeSpan.FromMinutes(1) };
        await using var store = new SqliteChatStore(_directory.File(), options);
        await store.OpenAsync(new ChatStoreRetention(1000, TimeSpan.FromSeconds(10)));
        await store.AppendAsync([StoreDirectory.Chat(1, "lobby", time.GetUtcNow())]);
        time.Advance(TimeSpan.FromSeconds(30));
        await store.AppendAsync([StoreDirectory.Chat(2, "lobby", time.GetUtcNow())]);
        Assert.That(CountRows(_directory.File(), store), Is.EqualTo(2), "not due yet");

        time.Advance(TimeSpan.FromSeconds(31));
        await store.AppendAsync([StoreDirectory.Chat(3, "lobby", time.GetUtcNow())]);
        Assert.That(CountRows(_directory.File(), store), Is.EqualTo(1));
    }

    [Test]
    public async Task A_deleted_file_comes_back_with_a_new_epoch()
    {
        string epoch;
        await using (var store = new SqliteChatStore(_directory.File()))
        {
            epoch = (await store.OpenAsync(ChatStoreRetention.Default)).Epoch;
            await store.AppendAsync(StoreDirectory.Chats(1, 3));
        }

        File.Delete(_directory.File());
        await using var fresh = new SqliteChatStore(_directory.File());
        var snapshot = await fresh.OpenAsync(ChatStoreRetention.Default);

        Assert.That(snapshot.Epoch, Is.Not.EqualTo(epoch));
        Assert.That(snapshot.LastId, Is.Zero);
        Assert.That(snapshot.Messages, Is.Empty);
    }

    [Test]
    public async Task An_empty_file_is_a_new_store()
    {
        await File.WriteAllBytesAsync(_directory.File(), []);
        await using var store = new SqliteChatStore(_directory.File());
        var snapshot = await store.OpenAsync(ChatStoreRetention.Default);

        Assert.That(snapshot.LastId, Is.Zero);
        Assert.That(snapshot.Epoch, Is.Not.Empty);
    }

    [Test]
    public async Task Two_files_have_different_epochs()
    {
        await using var one = new SqliteChatStore(_directory.File("one.db"));
        await using var two = new SqliteChatStore(_directory.File("two.db"));

        Assert.That((await one.OpenAsync(ChatStoreRetention.Default)).Epoch,
            Is.Not.EqualTo((await two.OpenAsync(ChatStoreRetention.Default)).Epoch));
    }

    [Test]
    public async Task Uses_wal_mode_and_a_versioned_schema()
    {
        await using (var store = new SqliteChatStore(_directory.File()))
        {
            await store.OpenAsync(ChatStoreRetention.Default);
        }

        using var connection = new SqliteConnection($"Data Source={_directory.File()};Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA journal_mode";
        Assert.That(command.ExecuteScalar(), Is.EqualTo("wal"));
        command.CommandText = "PRAGMA user_version";
        Assert.That(command.ExecuteScalar(), Is.EqualTo(2L));
    }

    [Test]
    public async Task A_schema_1_file_opens_with_its_last_id_and_is_marked_schema_2()
    {
        var path = _directory.File();
        await using (var store = new SqliteChatStore(path))
        {
            await store.OpenAsync(KeepAll);
            await store.AppendAsync(StoreDirectory.Chats(1, 3));
        }

        // What a schema-1 broker left: meta.last_id exact, here above the newest row.
        StoreDirectory.Execute(path, "UPDATE meta SET value = 7 WHERE key = 'last_id'; PRAGMA user_version = 1");

        await using (var store = new SqliteChatStore(path))
        {
            var snapshot = await store.OpenAsync(KeepAll);
            Assert.That(snapshot.LastId, Is.EqualTo(7));
            Assert.That(snapshot.Messages.Select(m => m.Id), Is.EqualTo(new long[] { 1, 2, 3 }));
            Assert.ThrowsAsync<ArgumentException>(() => store.AppendAsync([StoreDirectory.Chat(7)]));
        }

        Assert.That(StoreDirectory.Query(path, "PRAGMA user_version"), Is.EqualTo(2L));
    }

    [Test]
    public async Task The_last_id_is_the_newest_rows_until_a_transaction_deletes_that_row()
    {
        var path = _directory.File();
        await using (var store = new SqliteChatStore(path))
        {
            await store.OpenAsync(KeepAll);
            await store.AppendAsync(StoreDirectory.Chats(1, 3));
            await store.AppendAsync(StoreDirectory.Chats(4, 2));
        }

        // Appends that delete nothing leave meta alone: one page less written per commit.
        Assert.That(StoreDirectory.Query(path, "SELECT value FROM meta WHERE key = 'last_id'"), Is.EqualTo(0L));
        await using var reopened = new SqliteChatStore(path);
        Assert.That((await reopened.OpenAsync(KeepAll)).LastId, Is.EqualTo(5));
    }

    [Test]
    public async Task Rows_past_the_count_limit_are_deleted_together_and_the_retained_ones_never()
    {
        var path = _directory.File();
        var options = new SqliteChatStoreOptions { DeletesPerWrite = 4 };
        var retention = new ChatStoreRetention(2, Timeout.InfiniteTimeSpan);
        await using var store = new SqliteChatStore(path, options);
        await store.OpenAsync(retention);

        await store.AppendAsync(StoreDirectory.Chats(1, 3));
        Assert.That(CountRows(path, store), Is.EqualTo(3), "one row past the limit waits");
        await store.AppendAsync(StoreDirectory.Chats(4, 2));
        Assert.That(CountRows(path, store), Is.EqualTo(5), "three wait");
        await store.AppendAsync([StoreDirectory.Chat(6)]);
        Assert.That(CountRows(path, store), Is.EqualTo(2), "the fourth deletes all four together");
        Assert.That(StoreDirectory.Query(path, "SELECT group_concat(id) FROM chat"), Is.EqualTo("5,6"));

        await store.AppendAsync([StoreDirectory.Chat(7)]);
        await store.DisposeAsync();
        Assert.That(StoreDirectory.Query(path, "SELECT group_concat(id) FROM chat"), Is.EqualTo("6,7"), "close deletes what waits");
    }

    [Test]
    public async Task After_a_crash_the_rows_that_waited_for_deletion_are_dropped_at_open()
    {
        var path = _directory.File();
        var time = new FakeTimeProvider(StoreDirectory.Start);
        var options = new SqliteChatStoreOptions { TimeProvider = time, DeletesPerWrite = 1000 };
        var retention = new ChatStoreRetention(2, TimeSpan.FromHours(1));
        var crashed = _directory.File("crashed.db");
        await using (var store = new SqliteChatStore(path, options))
        {
            await store.OpenAsync(retention);
            await store.AppendAsync(StoreDirectory.Chats(1, 5, "dev"));
            time.Advance(TimeSpan.FromSeconds(11));

            // The age check is due: this append deletes what waits (1-4). Its lobby message was
            // stamped two hours ago, but an append drops by age only what was stored before it.
            await store.AppendAsync([StoreDirectory.Chat(6, "dev"), StoreDirectory.Chat(7, "lobby", time.GetUtcNow() - TimeSpan.FromHours(2))]);
            await store.AppendAsync(StoreDirectory.Chats(8, 3, "dev"));

            // What a SIGKILL now would leave: the file and its log as they are, nothing deleted at close.
            File.Copy(path, crashed);
            File.Copy(path + "-wal", crashed + "-wal");
        }

        Assert.That(StoreDirectory.Query(crashed, "SELECT group_concat(id) FROM chat"), Is.EqualTo("5,6,7,8,9,10"), "5, 6 and 8 wait in the copy");
        await using var reopened = new SqliteChatStore(crashed, options);
        var snapshot = await reopened.OpenAsync(retention);
        Assert.That(snapshot.Messages.Select(m => m.Id), Is.EqualTo(new long[] { 9, 10 }));
        Assert.That(snapshot.LastId, Is.EqualTo(10));
        Assert.That(CountRows(crashed, reopened), Is.EqualTo(2));
    }

    [Test]
    public async Task Open_twice_and_append_before_open_are_refused()
    {
        await using var store = new SqliteChatStore(_directory.File());
        Assert.That(() => store.AppendAsync([StoreDirectory.Chat(1)]), Throws.InvalidOperationException);
        await store.OpenAsync(ChatStoreRetention.Default);
        Assert.That(() => store.OpenAsync(ChatStoreRetention.Default), Throws.InvalidOperationException);
        await store.DisposeAsync();
        Assert.That(() => store.AppendAsync([StoreDirectory.Chat(1)]), Throws.TypeOf<ObjectDisposedException>());
    }

    [Test]
    public void Options_refuse_bad_values()
    {
        Assert.That(() => new SqliteChatStoreOptions { TimeProvider = null! }, Throws.ArgumentNullException);
        Assert.That(() => new SqliteChatStoreOptions { AgeTrimInterval = TimeSpan.Zero }, Throws.TypeOf<ArgumentOutOfRangeException>());
        Assert.That(() => new SqliteChatStore(" "), Throws.ArgumentException);
    }

    [Test]
    public async Task Under_appends_without_a_pause_the_log_is_copied_and_starts_again()
    {
        // SQLite's automatic checkpoint is off, and a checkpoint beside a writer that never pauses
        // never finds the whole log copied: without the writer's own restart the log would only grow.
        var path = _directory.File();
        var options = new SqliteChatStoreOptions { FramesPerCheckpoint = 8, FramesPerRestart = 256 };
        var id = 1L;
        await using (var store = new SqliteChatStore(path, options))
        {
            await store.OpenAsync(KeepAll);
            await store.AppendAsync(StoreDirectory.Chats(id, 2));
            id += 2;
            var firstSalt = LogSalt(path);

            // The restart waits for the background checkpoint in progress (its fsyncs): a slow disk
            // makes it late, never skipped.
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
            while ((store.LogRestartsForTesting < 2 || id < 6000) && DateTime.UtcNow < deadline)
            {
                await store.AppendAsync(StoreDirectory.Chats(id, 2, id % 4 == 1 ? "lobby" : "dev"));
                id += 2;
            }

            Assert.That(store.LogRestartsForTesting, Is.GreaterThanOrEqualTo(2));
            Assert.That(store.CheckpointsForTesting, Is.GreaterThan(store.LogRestartsForTesting));
            // A restarted log gets new salts in its header (https://www.sqlite.org/fileformat.html#walformat).
            Assert.That(LogSalt(path), Is.Not.EqualTo(firstSalt));
            Assert.That(CountRows(path, store), Is.EqualTo(id - 1));
        }

        await using var reopened = new SqliteChatStore(path);
        var snapshot = await reopened.OpenAsync(KeepAll);
        Assert.That(snapshot.LastId, Is.EqualTo(id - 1));
        Assert.That(snapshot.Messages.Select(m => m.Id), Is.EqualTo(Enumerable.Range(1, (int)(id - 1)).Select(i => (long)i)));
    }

    [Test]
    public async Task What_was_appended_reaches_the_database_file_once_the_store_is_idle()
    {
        var path = _directory.File();
        await using var store = new SqliteChatStore(path);
        await store.OpenAsync(KeepAll);
        await store.AppendAsync(StoreDirectory.Chats(1, 5));

        // One commit is far below the commits that trigger a checkpoint; idleness does it (~1 s).
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (store.CheckpointsForTesting == 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        Assert.That(store.CheckpointsForTesting, Is.GreaterThan(0));
        // A copy of the database file alone (no log beside it) has the rows.
        var copy = _directory.File("copy.db");
        File.Copy(path, copy);
        using var connection = new SqliteConnection($"Data Source={copy};Pooling=False");
        connection.Open();
        using var count = connection.CreateCommand();
        count.CommandText = "SELECT count(*) FROM chat";
        Assert.That(count.ExecuteScalar(), Is.EqualTo(5L));
    }

    // Salt-1 and salt-2 of the write-ahead log's header (bytes 16-23).
    private static string LogSalt(string path)
    {
        using var log = new FileStream(path + "-wal", FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        var header = new byte[32];
        log.ReadExactly(header);
        return Convert.ToHexString(header, 16, 8);
    }

    // Rows are counted through the store's own connection.
    private static long CountRows(string path, SqliteChatStore store)
    {
        Assert.That(store.Path, Is.EqualTo(Path.GetFullPath(path)));
        return store.CountRowsForTesting();
    }
}
