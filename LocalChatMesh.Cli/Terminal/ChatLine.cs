namespace LocalChatMesh.Cli.Terminal;

internal enum LineKind
{
    /// <summary>A chat line in a room.</summary>
    Chat,

    /// <summary>A direct message, received or sent.</summary>
    Direct,

    /// <summary>Presence, joins, lists, the client's own notices (<c>***</c>).</summary>
    Notice,

    /// <summary>A problem (<c>!!!</c>), for standard error in plain mode.</summary>
    Error,
}

/// <summary>
/// One line of the session, already safe to print (every string from the network sanitised),
/// with what the interactive screen needs to decorate it. Plain mode prints <see cref="Text"/>.
/// </summary>
/// <param name="Kind">What sort of line it is.</param>
/// <param name="Text">The line as PROTOCOL.md spells it.</param>
internal sealed record ChatLine(LineKind Kind, string Text)
{
    /// <summary>Where the sender's nickname (with its brackets) sits in <see cref="Text"/>; empty when there is none.</summary>
    public Range Sender { get; init; } = 0..0;

    /// <summary>The sender's nickname (sanitised), which picks its colour; null for lines without one.</summary>
    public string? Nickname { get; init; }

    /// <summary>True when somebody else's line mentions your nickname.</summary>
    public bool Mentions { get; init; }

    /// <summary>When the broker accepted the message (with <c>meta</c>); null when it did not say.</summary>
    public DateTimeOffset? Time { get; init; }

    /// <summary>True for a chat replayed from the room's history.</summary>
    public bool IsHistory { get; init; }

    public bool IsError => Kind == LineKind.Error;

    public static ChatLine Notice(string text) => new(LineKind.Notice, text);

    /// <summary>A problem: <c>!!! </c> and the sanitised text.</summary>
    public static ChatLine Error(string text) => new(LineKind.Error, $"!!! {TextSanitizer.Sanitize(text)}");
}
