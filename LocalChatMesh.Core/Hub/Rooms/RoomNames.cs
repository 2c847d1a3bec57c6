namespace LocalChatMesh.Hub.Rooms;

/// <summary>
/// Room names: 1 to 32 ASCII letters, digits, <c>-</c>, <c>_</c> and <c>.</c>, with at least one
/// letter or digit (a name of dots alone reads like a path, not a room); compared case-insensitively.
/// </summary>
internal static class RoomNames
{
    public const int MaxLength = 32;

    public const string Invalid = "invalid room name";

    public static bool IsValid(string? name, int maxLength = MaxLength)
    {
        if (string.IsNullOrEmpty(name) || name.Length > maxLength)
        {
            return false;
        }

        var letterOrDigit = false;
        foreach (var c in name)
        {
            if (char.IsAsciiLetterOrDigit(c))
            {
                letterOrDigit = true;
            }
            else if (c is not ('-' or '_' or '.'))
            {
                return false;
            }
        }

        return letterOrDigit;
    }

    /// <summary>
    /// Compares room names: names are ASCII, so ignoring case ordinally is exact, and lookups
    /// (one per chat) allocate no upper-cased copy.
    /// </summary>
    public static StringComparer Comparer => StringComparer.OrdinalIgnoreCase;

}
