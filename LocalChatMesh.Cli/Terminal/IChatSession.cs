using LocalChatMesh.Protocol;

namespace LocalChatMesh.Cli.Terminal;

/// <summary>
/// What the terminal client needs from a connection, and nothing more: the seam between the
/// session logic (<see cref="SessionController"/>) and the client library. Requests are fire and
/// forget; their answers (<c>joined</c>, <c>left</c>, <c>room_list</c>, <c>roster</c>, <c>direct</c>,
/// <c>error</c>) arrive on <see cref="Messages"/> like everything else, in the broker's order.
/// <see cref="V2ChatSession"/> is the terminal's adapter over <see cref="ChatClient"/> (version 2
/// when the broker grants it, version 1 otherwise); <see cref="V1ChatSession"/> speaks version 1 only.
/// </summary>
internal interface IChatSession : IAsyncDisposable
{
    /// <summary>The nickname the broker welcomed (trimmed).</summary>
    string Nickname { get; }

    /// <summary>The broker's <c>welcome</c>, as <c>--json</c> prints it.</summary>
    WelcomeMessage Welcome => new(Nickname);

    /// <summary>True when the broker granted <c>rooms</c>: the session joins <c>lobby</c> itself and may join others.</summary>
    bool SupportsRooms { get; }

    /// <summary>True when the broker granted <c>direct</c>.</summary>
    bool SupportsDirect { get; }

    /// <summary>
    /// The longest line the broker accepts from this client, in bytes without the newline: the
    /// limit it announced in <c>welcome</c>, else the broker's default (8192).
    /// </summary>
    int MaxLineLength { get; }

    /// <summary>Every server message after <c>welcome</c>; completes or fails when the connection ends.</summary>
    IObservable<ServerMessage> Messages { get; }

    /// <summary>
    /// The steps of a connection that comes back by itself (a version 2 broker, reconnect on):
    /// <see cref="ChatConnectionState.Reconnecting"/>, then <see cref="ChatConnectionState.Connected"/>
    /// again. Never emits for a session that does not reconnect.
    /// </summary>
    IObservable<ChatConnectionStatus> ConnectionStates => System.Reactive.Linq.Observable.Never<ChatConnectionStatus>();

    /// <summary>Each room joined again after a reconnect, with whether what it missed was recovered.</summary>
    IObservable<(string Room, ChatRoomResume Resume)> Resumes => System.Reactive.Linq.Observable.Never<(string, ChatRoomResume)>();

    /// <summary>True while the connection is lost and coming back: sends fail, the session goes on.</summary>
    bool IsReconnecting => false;

    /// <summary>Why the connection ended; never faults.</summary>
    Task<ChatClientCloseReason> Completion { get; }

    /// <summary>Sends a chat line to <paramref name="room"/> (null or <c>lobby</c> without <c>rooms</c>).</summary>
    Task SendAsync(string? room, string text, CancellationToken cancellationToken);

    Task JoinAsync(string room, CancellationToken cancellationToken);

    /// <summary>Joins <paramref name="room"/> replaying up to <paramref name="history"/> of its latest chats, when the broker keeps history.</summary>
    Task JoinAsync(string room, int history, CancellationToken cancellationToken) => JoinAsync(room, cancellationToken);

    Task LeaveAsync(string room, CancellationToken cancellationToken);

    Task ListRoomsAsync(CancellationToken cancellationToken);

    Task WhoAsync(string room, CancellationToken cancellationToken);

    Task DirectAsync(string nickname, string text, CancellationToken cancellationToken);
}

/// <summary>
/// <see cref="IChatSession"/> over today's (version 1) <see cref="ChatClient"/>: one room, the
/// lobby, no direct messages, the broker's default line limit.
/// </summary>
internal sealed class V1ChatSession(ChatClient client) : IChatSession
{
    public string Nickname => client.Nickname;

    public bool SupportsRooms => false;

    public bool SupportsDirect => false;

    public int MaxLineLength => BrokerOptions.Default.MaxLineLength;

    public IObservable<ServerMessage> Messages => client.Messages;

    public Task<ChatClientCloseReason> Completion => client.Completion;

    public static async Task<IChatSession> ConnectAsync(System.Net.IPEndPoint server, string nickname, CancellationToken cancellationToken) =>
        new V1ChatSession(await ChatClient.ConnectAsync(server, nickname, cancellationToken: cancellationToken));

    public Task SendAsync(string? room, string text, CancellationToken cancellationToken) => client.SendAsync(text, cancellationToken);

    public Task JoinAsync(string room, CancellationToken cancellationToken) => throw NotGranted();

    public Task LeaveAsync(string room, CancellationToken cancellationToken) => throw NotGranted();

    public Task ListRoomsAsync(CancellationToken cancellationToken) => throw NotGranted();

    public Task WhoAsync(string room, CancellationToken cancellationToken) => throw NotGranted();

    public Task DirectAsync(string nickname, string text, CancellationToken cancellationToken) => throw NotGranted();

    public ValueTask DisposeAsync() => client.DisposeAsync();

    private static NotSupportedException NotGranted() => new("this broker speaks version 1 only");
}
