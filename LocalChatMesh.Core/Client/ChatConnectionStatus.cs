namespace LocalChatMesh;

/// <summary>Where a <see cref="ChatClient"/>'s connection stands (<see cref="ChatClient.ConnectionStates"/>).</summary>
public enum ChatConnectionState
{
    /// <summary>A reconnect attempt is dialing the broker and saying <c>hello</c>.</summary>
    Connecting,

    /// <summary>Connected: after a reconnect, once every room has been joined again and its <see cref="ChatRoom.Resumes"/> published.</summary>
    Connected,

    /// <summary>The connection was lost (or an attempt failed); the next attempt waits for its delay.</summary>
    Reconnecting,

    /// <summary>Over for good: disposed, lost without a reconnect policy, refused, or given up. Final.</summary>
    Closed,
}

/// <summary>One step of a <see cref="ChatClient"/>'s connection.</summary>
/// <param name="State">The state.</param>
/// <param name="Attempt">The reconnect attempt (1, 2, …) this step belongs to; 0 for the first connection.</param>
/// <param name="Delay">With <see cref="ChatConnectionState.Reconnecting"/>, how long until the attempt; null otherwise.</param>
/// <param name="Reason">
/// Why: with <see cref="ChatConnectionState.Reconnecting"/> what ended the connection or failed the last
/// attempt (<c>broker shutting down</c>, <c>server closed the connection</c>, <c>could not connect to
/// 127.0.0.1:5000: Connection refused</c>); with <see cref="ChatConnectionState.Closed"/> why it is over;
/// null otherwise. A one-line text that may quote the broker, control characters not escaped.
/// </param>
public sealed record ChatConnectionStatus(ChatConnectionState State, int Attempt, TimeSpan? Delay, string? Reason);

/// <summary>
/// A room joined again after a reconnect (<see cref="ChatRoom.Resumes"/>).
/// </summary>
/// <param name="Recovered">
/// True when the broker replayed everything the room missed (same epoch, history still holding it);
/// false when messages may be missing (the broker lost its history, a new epoch, or the room was
/// joined without the <c>history</c> capability).
/// </param>
/// <param name="Replayed">How many missed chats were replayed (with <paramref name="Recovered"/>; 0 otherwise).</param>
public sealed record ChatRoomResume(bool Recovered, int Replayed);
