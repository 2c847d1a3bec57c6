using System.Text;
using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace LocalChatMesh.Storage.Sqlite.Internal;

/// <summary>
/// The prepared statements an append runs, compiled once per open and reused for every batch with
/// only their parameter values changed. They are run through SQLitePCL directly, under
/// Microsoft.Data.Sqlite's own connection: its per-execution work (a data reader per command, a
/// lookup by parameter name for every value) was most of the cost of an append (BENCHMARKS.md,
/// "Store").
/// </summary>
internal sealed class Statements : IDisposable
{
    private readonly SqliteConnection _connection;
    private readonly sqlite3_stmt _begin;
    private readonly sqlite3_stmt _commit;
    private readonly sqlite3_stmt _rollback;
    private readonly sqlite3_stmt _insert;
    private readonly sqlite3_stmt _delete;
    private byte[] _utf8 = new byte[1024];

    public Statements(SqliteConnection connection)
    {
        _connection = connection;
        _begin = Prepare("BEGIN IMMEDIATE");
        _commit = Prepare("COMMIT");
        _rollback = Prepare("ROLLBACK");
        _insert = Prepare("INSERT INTO chat (id, room, time, nickname, text) VALUES (?1, ?2, ?3, ?4, ?5)");
        _delete = Prepare("DELETE FROM chat WHERE id = ?1");
    }

    public void Begin() => Step(_begin);

    public void Commit() => Step(_commit);

    public void Insert(IReadOnlyList<StoredChat> batch)
    {
        foreach (var chat in batch)
        {
            Check(raw.sqlite3_bind_int64(_insert, 1, chat.Id));
            BindText(_insert, 2, chat.Room);
            Check(raw.sqlite3_bind_int64(_insert, 3, chat.Time.ToUnixTimeMilliseconds()));
            BindText(_insert, 4, chat.Nickname);
            BindText(_insert, 5, chat.Text);
            Step(_insert);
        }
    }

    public void Delete(List<long> ids)
    {
        foreach (var id in ids)
        {
            Check(raw.sqlite3_bind_int64(_delete, 1, id));
            Step(_delete);
        }
    }

    /// <summary>Rolls back the transaction an append began, if SQLite has not done so already.</summary>
    public void RollBackIfOpen()
    {
        if (raw.sqlite3_get_autocommit(_connection.Handle) == 0)
        {
            try
            {
                Step(_rollback);
            }
            catch (SqliteException)
            {
                // The append's own error is the one to report; SQLite rolls back on its next statement.
            }
        }
    }

    public void Dispose()
    {
        _begin.Dispose();
        _commit.Dispose();
        _rollback.Dispose();
        _insert.Dispose();
        _delete.Dispose();
    }

    private sqlite3_stmt Prepare(string sql)
    {
        Check(raw.sqlite3_prepare_v2(_connection.Handle, sql, out var statement));
        return statement;
    }

    // Runs a statement to its end and makes it ready for the next values; an error becomes the
    // SqliteException that Microsoft.Data.Sqlite would have thrown (StoreErrors maps it).
    private void Step(sqlite3_stmt statement)
    {
        var rc = raw.sqlite3_step(statement);
        raw.sqlite3_reset(statement);
        if (rc != raw.SQLITE_DONE)
        {
            SqliteException.ThrowExceptionForRC(rc, _connection.Handle);
        }
    }

    // SQLitePCL's string overload allocates an array per value; SQLite copies the bytes it is given
    // (SQLITE_TRANSIENT), so one buffer serves every value in turn.
    private void BindText(sqlite3_stmt statement, int index, string value)
    {
        var length = Encoding.UTF8.GetMaxByteCount(value.Length);
        if (_utf8.Length < length)
        {
            _utf8 = new byte[Math.Max(length, _utf8.Length * 2)];
        }

        var written = Encoding.UTF8.GetBytes(value, _utf8);
        Check(raw.sqlite3_bind_text(statement, index, _utf8.AsSpan(0, written)));
    }

    private void Check(int rc)
    {
        if (rc != raw.SQLITE_OK)
        {
            SqliteException.ThrowExceptionForRC(rc, _connection.Handle);
        }
    }
}
