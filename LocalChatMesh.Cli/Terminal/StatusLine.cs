namespace LocalChatMesh.Cli.Terminal;

internal enum ConnectionState
{
    Connected,
    Disconnected,
    Reconnecting,
}

/// <summary>One room besides the current one, and how many chats arrived there unseen.</summary>
internal sealed record RoomUnread(string Room, int Unread);

/// <summary>
/// The status line of the interactive client: nickname, current room, the other rooms with their
/// unread counts, and the connection state, e.g. <c>[alice] [lobby] dev(3) ops  connected</c>.
/// </summary>
internal sealed record StatusLine(string Nickname, string CurrentRoom, IReadOnlyList<RoomUnread> OtherRooms, ConnectionState State)
{
    public string Render()
    {
        var others = string.Concat(OtherRooms.Select(r => r.Unread > 0 ? $" {r.Room}({r.Unread})" : $" {r.Room}"));
        var state = State switch
        {
            ConnectionState.Connected => "connected",
            ConnectionState.Reconnecting => "reconnecting",
            _ => "disconnected",
        };
        return $"[{TextSanitizer.Sanitize(Nickname)}] [{CurrentRoom}]{others}  {state}";
    }
}

/// <summary>A stable colour per nickname: the same nickname always gets the same palette slot, on every run.</summary>
internal static class NicknameColors
{
    /// <summary>A palette index in [0, <paramref name="paletteSize"/>) from a case-insensitive FNV-1a hash.</summary>
    public static int Index(string nickname, int paletteSize)
    {
        ArgumentNullException.ThrowIfNull(nickname);
        ArgumentOutOfRangeException.ThrowIfLessThan(paletteSize, 1);
        var hash = 2166136261u;
        foreach (var c in nickname.ToUpperInvariant())
        {
            hash = (hash ^ c) * 16777619u;
        }

        return (int)(hash % (uint)paletteSize);
    }

    /// <summary>True unless colour is turned off: <c>--no-color</c>, or <c>NO_COLOR</c> set to anything non-empty (no-color.org).</summary>
    public static bool Enabled(bool noColorOption, string? noColorVariable) => !noColorOption && string.IsNullOrEmpty(noColorVariable);
}
