using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace LocalChatMesh.Storage.Sqlite.Internal;

/// <summary>
/// The prepared commands an append runs, compiled once per open and reused for every batch with
/// only their parameter values changed.
/// </summary>
internal sealed class Statements : IDisposable
{
    private readonly SqliteConnection _connection;
    private readonly SqliteCommand _insert;
    private readonly SqliteParameter _id;
    private readonly SqliteParameter _room;
    private readonly SqliteParameter _time;
    private readonly SqliteParameter _nickname;
    private readonly SqliteParameter _text;
    private readonly SqliteCommand _setLastId;
    private readonly SqliteParameter _lastId;
    private readonly SqliteCommand _delete;
    private readonly SqliteParameter _deleteId;
    private readonly SqliteCommand _rollback;

    public Statements(SqliteConnection connection)
    {
        _connection = connection;
        Begin = Prepare("BEGIN IMMEDIATE");
        Commit = Prepare("COMMIT");
        _rollback = Prepare("ROLLBACK");

        _insert = Prepare("INSERT INTO chat (id, room, time, nickname, text) VALUES ($id, $room, $time, $nickname, $text)",
            (_id = new SqliteParameter("$id", SqliteType.Integer)),
            (_room = new SqliteParameter("$room", SqliteType.Text)),
            (_time = new SqliteParameter("$time", SqliteType.Integer)),
            (_nickname = new SqliteParameter("$nickname", SqliteType.Text)),
            (_text = new SqliteParameter("$text", SqliteType.Text)));
        _setLastId = Prepare("UPDATE meta SET value = $last WHERE key = 'last_id'",
            _lastId = new SqliteParameter("$last", SqliteType.Integer));
        _delete = Prepare("DELETE FROM chat WHERE id = $id", _deleteId = new SqliteParameter("$id", SqliteType.Integer));
    }

    public SqliteCommand Begin { get; }

    public SqliteCommand Commit { get; }

    public void Insert(IReadOnlyList<StoredChat> batch)
    {
        foreach (var chat in batch)
        {
            _id.Value = chat.Id;
            _room.Value = chat.Room;
            _time.Value = chat.Time.ToUnixTimeMilliseconds();
            _nickname.Value = chat.Nickname;
            _text.Value = chat.Text;
            _insert.ExecuteNonQuery();
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
            _deleteId.Value = id;
            _delete.ExecuteNonQuery();
        }
    }

    /// <summary>Rolls back the transaction an append began, if SQLite has not done so already.</summary>
    public void RollBackIfOpen()
    {
        if (raw.sqlite3_get_autocommit(_connection.Handle) == 0)
        {
            _rollback.ExecuteNonQuery();
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

    private SqliteCommand Prepare(string sql, params SqliteParameter[] parameters)
    {
        var command = _connection.CreateCommand();
        command.CommandText = sql;
        command.Parameters.AddRange(parameters);
        command.Prepare();
        return command;
    }
}
