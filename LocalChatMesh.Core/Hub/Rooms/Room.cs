using LocalChatMesh.Protocol;

namespace LocalChatMesh.Hub.Rooms;

/// <summary>
/// A room: its members in join order, its log (history and the order of events), and the Subjects
/// that push each new entry to the members who are live. A member still replaying history reads
/// the log with a cursor instead and subscribes once it has reached the end.
/// Touched under the hub's lock only.
/// </summary>
internal sealed class Room(string name)
{
    /// <summary>The room that version 1 clients live in.</summary>
    public const string Lobby = "lobby";

    /// <summary>The name as first spelled; rooms are filed under it, compared with <see cref="RoomNames.Comparer"/>.</summary>
    public string Name { get; } = name;

    /// <summary>Members by nickname key, in join order.</summary>
    public OrderedDictionary<string, Membership> Members { get; } = new(StringComparer.Ordinal);

    /// <summary>
    /// The live members, one Subject per wire variant: an entry is encoded once for each variant
    /// that has members and the same bytes go to all of them, straight into their queues.
    /// </summary>
    public LiveFanOut Live { get; } = new();

    public RoomLog Log { get; } = new();

    /// <summary>Members reading the log with a cursor rather than live.</summary>
    public int CatchingUp { get; set; }

    /// <summary>A room exists while somebody is in it or it has history.</summary>
    public bool Exists => Members.Count > 0 || Log.ChatCount > 0;

    /// <summary>The nicknames in the room in join order, optionally without one member.</summary>
    public List<string> Nicknames(string? exceptKey = null)
    {
        var nicknames = new List<string>(Members.Count);
        foreach (var (memberKey, membership) in Members)
        {
            if (!string.Equals(memberKey, exceptKey, StringComparison.Ordinal))
            {
                nicknames.Add(membership.Connection.Nickname!);
            }
        }

        return nicknames;
    }

    public RoomSummary Summary() => new(Name, Members.Count);

    /// <summary>
    /// The smallest position a member catching up still has to read; presence entries before it are
    /// nobody's concern any more.
    /// </summary>
    public long OldestCursor()
    {
        var oldest = Log.NextPosition;
        if (CatchingUp == 0)
        {
            return oldest;
        }

        foreach (var membership in Members.Values)
        {
            if (membership.Cursor is { } cursor && cursor < oldest)
            {
                oldest = cursor;
            }
        }

        return oldest;
    }
}
