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

    /// <summary>This broker's members by nickname key, in join order.</summary>
    public OrderedDictionary<string, Membership> Members { get; } = new(StringComparer.Ordinal);

    /// <summary>
    /// Everybody in the room by nickname key, in join order: on a broker of its own the same as
    /// <see cref="Members"/>; in a cluster also the members of the other brokers, as the cluster's
    /// presence events told (see ChatHub.Cluster.cs).
    /// </summary>
    public OrderedDictionary<string, RosterEntry> Roster { get; } = new(StringComparer.Ordinal);

    /// <summary>
    /// The live members, one Subject per wire variant: an entry is encoded once for each variant
    /// that has members and the same bytes go to all of them, straight into their queues.
    /// </summary>
    public LiveFanOut Live { get; } = new();

    public RoomLog Log { get; } = new(name);

    /// <summary>In a cluster: joins of this broker's clients waiting for the cluster to order them.</summary>
    public int PendingJoins { get; set; }

    /// <summary>Members reading the log with a cursor rather than live.</summary>
    public int CatchingUp { get; set; }

    /// <summary>A room exists while somebody is in it or it has history.</summary>
    public bool Exists => Roster.Count > 0 || Members.Count > 0 || PendingJoins > 0 || Log.ChatCount > 0;

    /// <summary>The nicknames in the room in join order, optionally without one member.</summary>
    public List<string> Nicknames(string? exceptKey = null)
    {
        var nicknames = new List<string>(Roster.Count);
        foreach (var (memberKey, entry) in Roster)
        {
            if (!string.Equals(memberKey, exceptKey, StringComparison.Ordinal))
            {
                nicknames.Add(entry.Nickname);
            }
        }

        return nicknames;
    }

    public RoomSummary Summary() => new(Name, Roster.Count);

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

/// <summary>One member of a room: the nickname, and which connection (in a cluster, which broker's) it is.</summary>
/// <param name="Nickname">As the member spelled it.</param>
/// <param name="Member">The member's connection, unique in the cluster (<c>{broker}/{connection}</c>); empty on a broker of its own.</param>
internal readonly record struct RosterEntry(string Nickname, string Member);
