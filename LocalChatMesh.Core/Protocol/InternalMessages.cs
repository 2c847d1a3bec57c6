namespace LocalChatMesh.Protocol;

/// <summary>A line that arrived but is not a valid client message; <see cref="Problem"/> says why.</summary>
/// <param name="Problem">The decoder's description of what is wrong.</param>
internal sealed record UnreadableLine(string Problem) : ClientMessage
{
    /// <summary>
    /// The line's <c>type</c> when the line was a well-formed object whose fields were wrong: a
    /// client not granted that type's capability is told the type is unknown, as before version 2.
    /// </summary>
    public string? Type { get; init; }
}

/// <summary>
/// A chat whose only problem is a mistyped version 2 field (<c>room</c>): a client granted
/// <c>rooms</c> is told <see cref="Problem"/>, any other reads <see cref="Lenient"/>, which ignores
/// the field as a version 1 broker would.
/// </summary>
internal sealed record MistypedField(string Problem, ClientMessage Lenient) : ClientMessage;
