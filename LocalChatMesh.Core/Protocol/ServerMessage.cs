using System.Text.Json.Serialization;

namespace LocalChatMesh.Protocol;

/// <summary>
/// A message the broker sends to a client. The wire form carries a <c>type</c> discriminator.
/// The hierarchy is closed: only the codec's own message types derive from it.
/// Fields of the version 2 extensions are null (and absent from the wire) unless granted.
/// </summary>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "type")]
[JsonDerivedType(typeof(WelcomeMessage), "welcome")]
[JsonDerivedType(typeof(RosterMessage), "roster")]
[JsonDerivedType(typeof(UserJoinedMessage), "user_joined")]
[JsonDerivedType(typeof(UserLeftMessage), "user_left")]
[JsonDerivedType(typeof(ChatBroadcastMessage), "chat")]
[JsonDerivedType(typeof(ErrorMessage), "error")]
[JsonDerivedType(typeof(JoinedMessage), "joined")]
[JsonDerivedType(typeof(LeftMessage), "left")]
[JsonDerivedType(typeof(RoomListMessage), "room_list")]
[JsonDerivedType(typeof(DirectDeliveryMessage), "direct")]
public abstract record ServerMessage
{
    // Only this assembly can derive: the codec must know every message type.
    private protected ServerMessage()
    {
    }
}

/// <summary>The handshake was accepted.</summary>
/// <param name="Nickname">The reserved nickname, after trimming.</param>
public sealed record WelcomeMessage(string Nickname) : ServerMessage
{
    /// <summary>The capabilities granted, for a client that asked for any; null for a version 1 client or broker.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<string>? Capabilities { get; init; }

    /// <summary>The secret that takes this nickname back on a new connection (version 2 clients only).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Session { get; init; }

    /// <summary>The longest line the broker accepts, in bytes (a Local Chat Mesh extension, version 2 clients only).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? MaxLineLength { get; init; }

    /// <inheritdoc />
    public bool Equals(WelcomeMessage? other) =>
        other is not null
        && string.Equals(Nickname, other.Nickname, StringComparison.Ordinal)
        && string.Equals(Session, other.Session, StringComparison.Ordinal)
        && MaxLineLength == other.MaxLineLength
        && Lists.Equal(Capabilities, other.Capabilities);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(Nickname, Session, MaxLineLength, Lists.Hash(Capabilities));
}

/// <summary>
/// Version 1: everybody else online, right after <see cref="WelcomeMessage"/> when anybody is.
/// With <c>rooms</c>: the answer to <c>who</c>, everybody in <see cref="Room"/> (you included) in join order.
/// </summary>
/// <param name="Participants">The participants' nicknames.</param>
public sealed record RosterMessage(IReadOnlyList<string> Participants) : ServerMessage
{
    /// <summary>The room, for a client granted <c>rooms</c>.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Room { get; init; }

    /// <summary>Compares the participants element by element, not by list reference.</summary>
    public bool Equals(RosterMessage? other) =>
        other is not null
        && string.Equals(Room, other.Room, StringComparison.Ordinal)
        && Participants.SequenceEqual(other.Participants, StringComparer.Ordinal);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(Room, Lists.Hash(Participants));

    /// <inheritdoc />
    protected override bool PrintMembers(System.Text.StringBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        Lists.Print(builder, nameof(Participants), Participants);
        if (Room is not null)
        {
            builder.Append(", Room = ").Append(Room);
        }

        return true;
    }
}

/// <summary>Somebody joined; sent to everybody in the room but the joiner.</summary>
/// <param name="Nickname">Who joined.</param>
public sealed record UserJoinedMessage(string Nickname) : ServerMessage
{
    /// <summary>The room, for a client granted <c>rooms</c>.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Room { get; init; }
}

/// <summary>Somebody left; sent to everybody who remains in the room.</summary>
/// <param name="Nickname">Who left.</param>
public sealed record UserLeftMessage(string Nickname) : ServerMessage
{
    /// <summary>The room, for a client granted <c>rooms</c>.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Room { get; init; }
}

/// <summary>A chat line, sent to every client in the room including its sender.</summary>
/// <param name="Nickname">Who said it.</param>
/// <param name="Text">What they said.</param>
public sealed record ChatBroadcastMessage(string Nickname, string Text) : ServerMessage
{
    /// <summary>The room, for a client granted <c>rooms</c>.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Room { get; init; }

    /// <summary>The message's id (with <c>meta</c>): strictly increasing within a room.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public long? Id { get; init; }

    /// <summary>When the broker accepted it (with <c>meta</c>), UTC, to the millisecond.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    [JsonConverter(typeof(WireTimeConverter))]
    public DateTimeOffset? Time { get; init; }

    /// <summary>True when replayed from the room's history rather than live; null otherwise.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public bool? History { get; init; }
}

/// <summary>A human-readable problem: refused handshake, bad input, lag, shutdown.</summary>
/// <param name="Message">The explanation.</param>
public sealed record ErrorMessage(string Message) : ServerMessage;

/// <summary>Your join succeeded (<c>rooms</c>).</summary>
/// <param name="Room">The room, as first spelled.</param>
/// <param name="Participants">Everybody else in it, in join order.</param>
public sealed record JoinedMessage(string Room, IReadOnlyList<string> Participants) : ServerMessage
{
    /// <summary>The room's history epoch (with <c>history</c>).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Epoch { get; init; }

    /// <summary>The id of the newest chat in the room when this was sent, 0 when none (with <c>history</c>).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public long? LastId { get; init; }

    /// <summary>Present exactly when the join asked to resume: whether every missed chat is replayed.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public bool? Recovered { get; init; }

    /// <inheritdoc />
    public bool Equals(JoinedMessage? other) =>
        other is not null
        && string.Equals(Room, other.Room, StringComparison.Ordinal)
        && string.Equals(Epoch, other.Epoch, StringComparison.Ordinal)
        && LastId == other.LastId
        && Recovered == other.Recovered
        && Participants.SequenceEqual(other.Participants, StringComparer.Ordinal);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(Room, Epoch, LastId, Recovered, Lists.Hash(Participants));

    /// <inheritdoc />
    protected override bool PrintMembers(System.Text.StringBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Append("Room = ").Append(Room).Append(", ");
        Lists.Print(builder, nameof(Participants), Participants);
        builder.Append(", Epoch = ").Append(Epoch).Append(", LastId = ").Append(LastId).Append(", Recovered = ").Append(Recovered);
        return true;
    }
}

/// <summary>Your leave succeeded, or the broker removed you from the room (<c>rooms</c>).</summary>
/// <param name="Room">The room.</param>
public sealed record LeftMessage(string Room) : ServerMessage;

/// <summary>One room in a <see cref="RoomListMessage"/>.</summary>
/// <param name="Room">The room's name, as first spelled.</param>
/// <param name="Members">How many are in it now (0 for a room that only has history).</param>
public sealed record RoomSummary(string Room, int Members);

/// <summary>The answer to <c>rooms</c>: every room that exists.</summary>
/// <param name="Rooms">The rooms, by name.</param>
public sealed record RoomListMessage(IReadOnlyList<RoomSummary> Rooms) : ServerMessage
{
    /// <inheritdoc />
    public bool Equals(RoomListMessage? other) => other is not null && Rooms.SequenceEqual(other.Rooms);

    /// <inheritdoc />
    public override int GetHashCode() => Lists.Hash(Rooms);

    /// <inheritdoc />
    protected override bool PrintMembers(System.Text.StringBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        Lists.Print(builder, nameof(Rooms), Rooms);
        return true;
    }
}

/// <summary>A direct message (<c>direct</c>), delivered to its recipient and echoed to its sender.</summary>
/// <param name="From">The sender.</param>
/// <param name="To">The recipient, as the broker spells their nickname.</param>
/// <param name="Text">The text.</param>
public sealed record DirectDeliveryMessage(string From, string To, string Text) : ServerMessage
{
    /// <summary>The message's id (with <c>meta</c>), unique per broker.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public long? Id { get; init; }

    /// <summary>When the broker accepted it (with <c>meta</c>), UTC, to the millisecond.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    [JsonConverter(typeof(WireTimeConverter))]
    public DateTimeOffset? Time { get; init; }
}
