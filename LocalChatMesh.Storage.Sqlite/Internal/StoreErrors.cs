using Microsoft.Data.Sqlite;

namespace LocalChatMesh.Storage.Sqlite.Internal;

/// <summary>Turns what SQLite and the file system report into one-line <see cref="ChatStoreException"/>s.</summary>
internal static class StoreErrors
{
    // Primary result codes, https://www.sqlite.org/rescode.html
    private const int SqlitePerm = 3;
    private const int SqliteBusy = 5;
    private const int SqliteLocked = 6;
    private const int SqliteReadOnly = 8;
    private const int SqliteIoErr = 10;
    private const int SqliteCorrupt = 11;
    private const int SqliteFull = 13;
    private const int SqliteCantOpen = 14;
    private const int SqliteAuth = 23;
    private const int SqliteNotADb = 26;

    public static ChatStoreException InUse(string path, Exception? inner = null) => Make(
        $"store '{path}' is in use by another process: one broker per store (stop the other broker, or give this one its own --store file)",
        inner);

    public static ChatStoreException NotAStore(string path, string why, Exception? inner = null) => Make(
        $"store '{path}' is not a usable chat store ({why}); move it away to start a new one, nothing was changed",
        inner);

    public static ChatStoreException Newer(string path, long version, int known) => Make(
        $"store '{path}' was written by a newer version of Local Chat Mesh (schema {version}; this version knows up to {known})",
        null);

    public static ChatStoreException CannotOpen(string path, string why, Exception? inner = null) => Make(
        $"cannot open store '{path}': {why}",
        inner);

    /// <summary>Maps an SQLite failure while opening (<paramref name="writing"/> false) or appending.</summary>
    public static ChatStoreException From(SqliteException exception, string path, bool writing)
    {
        var verb = writing ? "cannot write store" : "cannot open store";
        var reason = Reason(exception);
        return exception.SqliteErrorCode switch
        {
            SqliteBusy or SqliteLocked => InUse(path, exception),
            SqliteNotADb => NotAStore(path, "the file is not an SQLite database", exception),
            SqliteCorrupt => NotAStore(path, "the database is corrupt", exception),
            SqliteFull => Make($"{verb} '{path}': the disk is full", exception),
            SqliteReadOnly => Make($"{verb} '{path}': the file or its directory is read-only", exception),
            SqlitePerm or SqliteAuth => Make($"{verb} '{path}': permission denied", exception),
            SqliteCantOpen => Make($"{verb} '{path}': the file or its write-ahead log beside it cannot be opened for writing ({reason})", exception),
            SqliteIoErr => Make($"{verb} '{path}': I/O error ({reason})", exception),
            _ => Make($"{verb} '{path}': {reason}", exception),
        };
    }

    // SQLite's own text, without the "SQLite Error 14: '...'." wrapper Microsoft.Data.Sqlite adds.
    private static string Reason(SqliteException exception)
    {
        var message = exception.Message;
        var open = message.IndexOf('\'', StringComparison.Ordinal);
        var close = message.LastIndexOf('\'');
        var text = open >= 0 && close > open ? message[(open + 1)..close] : message;
        return OneLine(text);
    }

    private static string OneLine(string text) => text.ReplaceLineEndings(" ").Trim();

    private static ChatStoreException Make(string message, Exception? inner) =>
        inner is null ? new ChatStoreException(OneLine(message)) : new ChatStoreException(OneLine(message), inner);
}
