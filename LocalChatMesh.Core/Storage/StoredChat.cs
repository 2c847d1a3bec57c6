namespace LocalChatMesh.Storage;

/// <summary>One chat as a store keeps it.</summary>
/// <param name="Id">The broker-wide id: positive, strictly increasing across all rooms.</param>
/// <param name="Room">The room, as first spelled (rooms compare ignoring case).</param>
/// <param name="Time">When the broker accepted it; stores keep it to the millisecond.</param>
/// <param name="Nickname">The sender.</param>
/// <param name="Text">The chat text.</param>
public sealed record StoredChat(long Id, string Room, DateTimeOffset Time, string Nickname, string Text)
{
    /// <summary>The broker-wide id: positive, strictly increasing across all rooms.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is less than 1.</exception>
    public long Id
    {
        get;
        init => field = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(Id), value, "Id must be positive.");
    } = Id >= 1 ? Id : throw new ArgumentOutOfRangeException(nameof(Id), Id, "Id must be positive.");

    /// <summary>The room, as first spelled.</summary>
    /// <exception cref="ArgumentNullException">The value is null.</exception>
    public string Room
    {
        get;
        init => field = value ?? throw new ArgumentNullException(nameof(Room));
    } = Room ?? throw new ArgumentNullException(nameof(Room));

    /// <summary>The sender.</summary>
    /// <exception cref="ArgumentNullException">The value is null.</exception>
    public string Nickname
    {
        get;
        init => field = value ?? throw new ArgumentNullException(nameof(Nickname));
    } = Nickname ?? throw new ArgumentNullException(nameof(Nickname));

    /// <summary>The chat text.</summary>
    /// <exception cref="ArgumentNullException">The value is null.</exception>
    public string Text
    {
        get;
        init => field = value ?? throw new ArgumentNullException(nameof(Text));
    } = Text ?? throw new ArgumentNullException(nameof(Text));
}
