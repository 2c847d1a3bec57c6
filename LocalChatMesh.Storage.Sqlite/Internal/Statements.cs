using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace LocalChatMesh.Storage.Sqlite.Internal;

/// <summary>
/// The prepared statements an append runs, compiled once per open and reused for every batch with
/// only their parameter values changed. The two that run once per message (insert, delete) are
/// bound by position through SQLitePCL directly, under Microsoft.Data.Sqlite's own connection:
/// its per-execution binding (a lookup by parameter name each time) was most of the cost of an
/// append (BENCHMARKS.md, "Store").
/// </summary>
internal sealed class Statements : IDisposable
{
    private readonly SqliteConnection _connection;
    private readonly sqlite3_stmt _insert;
    private readonly SqliteCommand _setLastId;
    private readonly SqliteParameter _lastId;
    private readonly sqlite3_stmt _delete;
    private readonly SqliteCommand _rollback;

    public Statements(SqliteConnection connection)
    {
        _connection = connection;
        Begin = Prepare("BEGIN IMMEDIATE");
        Commit = Prepare("COMMIT");
        _rollback = Prepare("ROLLBACK");

        _insert = PrepareRaw("INSERT INTO chat (id, room, time, nickname, text) VALUES (?1, ?2, ?3, ?4, ?5)");
        _setLastId = Prepare("UPDATE meta SET value = $last WHERE key = 'last_id'",
            _lastId = new SqliteParameter("$last", SqliteType.Integer));
        _delete = PrepareRaw("DELETE FROM chat WHERE id = ?1");
    }

    public SqliteCommand Begin { get; }

    public SqliteCommand Commit { get; }

    public void Insert(IReadOnlyList<StoredChat> batch)
    {
        foreach (var chat in batch)
        {
            Check(raw.sqlite3_bind_int64(_insert, 1, chat.Id));
            Check(raw.sqlite3_bind_text(_insert, 2, chat.Room));
            Check(raw.sqlite3_bind_int64(_insert, 3, chat.Time.ToUnixTimeMilliseconds()));
            Check(raw.sqlite3_bind_text(_insert, 4, chat.Nickname));
            Check(raw.sqlite3_bind_text(_insert, 5, chat.Text));
            Step(_insert);
        }
    }

    public void SetLastId(long lastId)
    {
        _lastId.Value = lastId;
        _setLastId.ExecuteNonQuery();
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
                _rollback.ExecuteNonQuery();
            }
            catch (SqliteException)
            {
                // The append's own error is the one to report; SQLite rolls back on its next statement.
            }
        }
    }

    public void Dispose()
    {
        Begin.Dispose();
        Commit.Dispose();
        _rollback.Dispose();
        _insert.Dispose();
        _setLastId.Dispose();
        _delete.Dispose();
    }

    private sqlite3_stmt PrepareRaw(string sql)
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

    private void Check(int rc)
    {
        if (rc != raw.SQLITE_OK)
        {
            SqliteException.ThrowExceptionForRC(rc, _connection.Handle);
        }
    }

    private SqliteCommand Prepare(string sql, params SqliteParameter[] parameters)
    {
        var command = _connection.CreateCommand();
        command.CommandText = sql;
        command.Parameters.AddRange(parameters);
        command.Prepare();
        return command;
    }
}
