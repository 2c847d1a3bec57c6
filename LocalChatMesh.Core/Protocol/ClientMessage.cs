using System.Text.Json.Serialization;

namespace LocalChatMesh.Protocol;

/// <summary>A message a client sends to the broker. The wire form carries a <c>type</c> discriminator.</summary>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "type")]
[JsonDerivedType(typeof(HelloMessage), "hello")]
[JsonDerivedType(typeof(ChatMessage), "chat")]
public abstract record ClientMessage;

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
}

/// <summary>A chat line for everybody.</summary>
/// <param name="Text">The text of the line.</param>
public sealed record ChatMessage(string Text) : ClientMessage;
