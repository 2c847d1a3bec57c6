using System.Text.Json.Serialization;

namespace LocalChatMesh.Protocol;

/// <summary>A message the broker sends to a client. The wire form carries a <c>type</c> discriminator.</summary>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "type")]
[JsonDerivedType(typeof(WelcomeMessage), "welcome")]
[JsonDerivedType(typeof(RosterMessage), "roster")]
[JsonDerivedType(typeof(UserJoinedMessage), "user_joined")]
[JsonDerivedType(typeof(UserLeftMessage), "user_left")]
[JsonDerivedType(typeof(ChatBroadcastMessage), "chat")]
[JsonDerivedType(typeof(ErrorMessage), "error")]
public abstract record ServerMessage;

/// <summary>The handshake was accepted.</summary>
/// <param name="Nickname">The reserved nickname, after trimming.</param>
public sealed record WelcomeMessage(string Nickname) : ServerMessage;

/// <summary>Everybody else online, sent right after <see cref="WelcomeMessage"/> when anybody is.</summary>
/// <param name="Participants">The other participants' nicknames.</param>
public sealed record RosterMessage(IReadOnlyList<string> Participants) : ServerMessage
{
    /// <summary>Compares the participants element by element, not by list reference.</summary>
    public bool Equals(RosterMessage? other) =>
        other is not null && Participants.SequenceEqual(other.Participants, StringComparer.Ordinal);

    /// <inheritdoc />
    public override int GetHashCode()
    {
        var hash = new HashCode();
        foreach (var participant in Participants)
        {
            hash.Add(participant, StringComparer.Ordinal);
        }

        return hash.ToHashCode();
    }

    /// <inheritdoc />
    protected override bool PrintMembers(System.Text.StringBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Append("Participants = [").AppendJoin(", ", Participants).Append(']');
        return true;
    }
}

/// <summary>Somebody joined; sent to everybody but the joiner.</summary>
/// <param name="Nickname">Who joined.</param>
public sealed record UserJoinedMessage(string Nickname) : ServerMessage;

/// <summary>Somebody left; sent to everybody who remains.</summary>
/// <param name="Nickname">Who left.</param>
public sealed record UserLeftMessage(string Nickname) : ServerMessage;

/// <summary>A chat line, sent to every client including its sender.</summary>
/// <param name="Nickname">Who said it.</param>
/// <param name="Text">What they said.</param>
public sealed record ChatBroadcastMessage(string Nickname, string Text) : ServerMessage;

/// <summary>A human-readable problem: refused handshake, bad input, lag, shutdown.</summary>
/// <param name="Message">The explanation.</param>
public sealed record ErrorMessage(string Message) : ServerMessage;
