using System.Text;
using System.Text.Json.Serialization;

namespace LocalChatMesh.Protocol;

/// <summary>
/// A message a client sends to the broker. The wire form carries a <c>type</c> discriminator.
/// The hierarchy is closed: only the codec's own message types derive from it.
/// </summary>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "type")]
[JsonDerivedType(typeof(HelloMessage), "hello")]
[JsonDerivedType(typeof(ChatMessage), "chat")]
[JsonDerivedType(typeof(JoinMessage), "join")]
[JsonDerivedType(typeof(LeaveMessage), "leave")]
[JsonDerivedType(typeof(ListRoomsMessage), "rooms")]
[JsonDerivedType(typeof(WhoMessage), "who")]
[JsonDerivedType(typeof(DirectMessage), "direct")]
public abstract record ClientMessage
{
    // Only this assembly can derive: the codec must know every message type.
    private protected ClientMessage()
    {
    }
}

/// <summary>The handshake: it must be the first message on a connection.</summary>
/// <param name="Nickname">The nickname to reserve; the broker trims it.</param>
public sealed record HelloMessage(string Nickname) : ClientMessage
{
    /// <summary>
    /// The broker's shared secret, when the broker requires one (a Local Chat Mesh extension).
    /// Left out of the wire form when null, so brokers that do not know it are unaffected.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Token { get; init; }

    /// <summary>
    /// The version 2 extensions asked for (see <see cref="ChatCapabilities"/>); null for a version 1
    /// client, which then receives exactly what a client of the original example receives.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<string>? Capabilities { get; init; }

    /// <summary>The session secret of an earlier <c>welcome</c>, to take the nickname back at once.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Session { get; init; }

    /// <inheritdoc />
    public bool Equals(HelloMessage? other) =>
        other is not null
        && string.Equals(Nickname, other.Nickname, StringComparison.Ordinal)
        && string.Equals(Token, other.Token, StringComparison.Ordinal)
        && string.Equals(Session, other.Session, StringComparison.Ordinal)
        && Lists.Equal(Capabilities, other.Capabilities);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(Nickname, Token, Session, Lists.Hash(Capabilities));
}

/// <summary>A chat line for everybody in a room (version 1: everybody).</summary>
/// <param name="Text">The text of the line.</param>
public sealed record ChatMessage(string Text) : ClientMessage
{
    // A chat the broker decodes keeps its text as the line's UTF-8 bytes: the broker's own path
    // (the blank check, the room log, the frames) needs no UTF-16 string, which was ~14 % of a
    // fan-out-10 broker's CPU (BENCHMARKS.md). The string is made when somebody reads Text
    // (broker events, the store, the cluster), and the bytes when a string-made chat needs them.
    // Either is made from the other the same way every time, so a race only makes it twice.
    private string? _text = Text;
    private byte[]? _utf8;

    /// <summary>The text of the line.</summary>
    public string Text
    {
        get => _text ??= Encoding.UTF8.GetString(_utf8!);
        init
        {
            _text = value;
            _utf8 = null;
        }
    }

    /// <summary>The room it is for (needs <c>rooms</c>); null means <c>lobby</c>.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Room { get; init; }

    /// <summary>The text as UTF-8 (unescaped); the array is shared and must not be changed.</summary>
    internal byte[] Utf8Text
    {
        get => _utf8 ??= Encoding.UTF8.GetBytes(_text!);
        init
        {
            _utf8 = value;
            _text = null;
        }
    }

    /// <inheritdoc />
    public bool Equals(ChatMessage? other) =>
        other is not null
        && string.Equals(Text, other.Text, StringComparison.Ordinal)
        && string.Equals(Room, other.Room, StringComparison.Ordinal);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(Text, Room);
}

/// <summary>Enter a room (needs <c>rooms</c>), optionally replaying its history or resuming after an id.</summary>
/// <param name="Room">The room's name.</param>
public sealed record JoinMessage(string Room) : ClientMessage
{
    /// <summary>How many of the room's latest chats to replay (needs <c>history</c>).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? History { get; init; }

    /// <summary>Resume: replay every chat with an id above this one (with <see cref="Epoch"/>).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public long? After { get; init; }

    /// <summary>The room's epoch when <see cref="After"/> was seen.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Epoch { get; init; }
}

/// <summary>Leave a room (needs <c>rooms</c>).</summary>
/// <param name="Room">The room's name.</param>
public sealed record LeaveMessage(string Room) : ClientMessage;

/// <summary>Ask for the list of rooms (needs <c>rooms</c>); the wire type is <c>rooms</c>.</summary>
public sealed record ListRoomsMessage : ClientMessage;

/// <summary>Ask who is in a room (needs <c>rooms</c>).</summary>
/// <param name="Room">The room's name.</param>
public sealed record WhoMessage(string Room) : ClientMessage;

/// <summary>A direct message to one participant (needs <c>direct</c>).</summary>
/// <param name="To">The recipient's nickname.</param>
/// <param name="Text">The text.</param>
public sealed record DirectMessage(string To, string Text) : ClientMessage;
