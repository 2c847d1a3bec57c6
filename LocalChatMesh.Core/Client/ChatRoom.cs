using System.Reactive.Linq;
using System.Reactive.Subjects;
using System.Threading.Channels;
using LocalChatMesh.Protocol;

namespace LocalChatMesh;

/// <summary>
/// A room this client has joined with <see cref="ChatClient.JoinAsync"/> (version 2, <c>rooms</c>):
/// its chats, push (<see cref="Messages"/>) and pull (<see cref="ReadMessagesAsync"/>), the others in
/// it, and sending to it. Disposing it leaves the room.
/// </summary>
/// <remarks>
/// <para>
/// Nothing is lost between the join and the first consumer: the chats that arrive before anything
/// consumes the room (history replayed right after <c>joined</c>, early live chats) wait in a backlog
/// of <see cref="ChatClientOptions.ReadBufferCapacity"/> messages, which the first consumer, push or
/// pull, receives before anything live. Later consumers see messages from the moment they attach. A
/// room nobody consumes keeps only its latest messages, so an app that reads everything from
/// <see cref="ChatClient.Messages"/> pays nothing but that buffer.
/// </para>
/// <para>
/// Observers run on the client's reader loop, one message at a time (the first subscriber receives
/// the backlog on its own thread, before any live message), and see each chat before
/// <see cref="ChatClient.Messages"/> does. Each enumeration has a bounded buffer that the reader loop
/// waits on when full, as the client's own enumerations do.
/// </para>
/// </remarks>
public sealed class ChatRoom : IAsyncDisposable
{
    private readonly ChatClient _client;
    private readonly MessageFanout<ChatBroadcastMessage> _messages;
    private readonly BehaviorSubject<IReadOnlyList<string>> _participantsChanged;
    private readonly Lock _participantsLock = new();
    private readonly TaskCompletionSource<ChatRoomCloseReason> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Subject<ChatRoomResume> _resumes = new();
    private volatile IReadOnlyList<string> _participants;
    private volatile JoinedMessage _joined;
    private int _ended;

    // Reader loop only: the highest id delivered (duplicates are at or below it), and a resume's
    // replay in progress (it ends with the chat whose id is the rejoin's last_id).
    private long? _highestDelivered;
    private long? _resumeTarget;
    private int _replayed;
    private TaskCompletionSource _resumed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    internal ChatRoom(ChatClient client, JoinedMessage joined, int capacity)
    {
        _client = client;
        _joined = joined;
        Name = joined.Room;
        Epoch = joined.Epoch;
        LastSeenId = joined.LastId;
        _participants = Array.AsReadOnly(joined.Participants.ToArray());
        _participantsChanged = new(_participants);
        _messages = new MessageFanout<ChatBroadcastMessage>(capacity, backlog: true, attached: static () => { });
        ParticipantsChanged = _participantsChanged.AsObservable();
    }

    /// <summary>The room's name as the broker spelled it in <c>joined</c> (room names ignore case).</summary>
    public string Name { get; }

    /// <summary>
    /// The broker's latest <c>joined</c> for this room: the participants then, and with <c>history</c>
    /// the epoch, last id and whether a resume recovered everything. After a reconnect, the
    /// <c>joined</c> of the rejoin.
    /// </summary>
    public JoinedMessage Joined => _joined;

    /// <summary>
    /// The others in the room, in the order the broker announced them: from <c>joined</c>, then
    /// updated by <c>user_joined</c> and <c>user_left</c> for this room before that message is
    /// published. After the room is left it keeps the last known list.
    /// </summary>
    public IReadOnlyList<string> Participants => _participants;

    /// <summary>
    /// <see cref="Participants"/> each time it changes; a new subscriber first receives the current
    /// list. Completes when the room is no longer joined.
    /// </summary>
    public IObservable<IReadOnlyList<string>> ParticipantsChanged { get; }

    /// <summary>
    /// The room's chats (history replays included, marked <see cref="ChatBroadcastMessage.History"/>).
    /// The first consumer also receives the backlog kept since the join. Completes when the room is
    /// left or the connection ends cleanly; fails with <see cref="ChatConnectionException"/> when
    /// the connection failed.
    /// </summary>
    public IObservable<ChatBroadcastMessage> Messages => _messages.Observable;

    /// <summary>
    /// Each time the room is joined again after a reconnect (<see cref="ChatClientOptions.Reconnect"/>):
    /// whether everything missed was recovered, and how many chats were replayed. Published on the
    /// reader loop once the replay has reached this room's push consumers (before any live chat), or
    /// at the rejoin when nothing is replayed. Hot; completes when the room is no longer joined.
    /// </summary>
    /// <remarks>
    /// <c>Recovered</c> true with <c>Replayed</c> N: the broker still held the room's history under the
    /// same epoch and replayed the N chats this client missed, so nothing is missing (a terminal says
    /// "N missed messages recovered"). False: the broker lost history (a restart without a store, a
    /// new epoch) or no longer holds all of it, or the client has no <c>history</c> capability; chats
    /// sent while the client was away may be missing ("messages may be missing").
    /// </remarks>
    public IObservable<ChatRoomResume> Resumes => _resumes.AsObservable();

    /// <summary>
    /// True until the room is left, the broker removes this client, or the connection ends. While
    /// the client is reconnecting the room stays joined: it is joined again on the new connection.
    /// </summary>
    public bool IsJoined => Volatile.Read(ref _ended) == 0;

    /// <summary>Completes, never faults, when the room is no longer joined, with why.</summary>
    public Task<ChatRoomCloseReason> Completion => _completion.Task;

    /// <summary>The room's epoch from <c>joined</c> (with <c>history</c>): what a resume must quote.</summary>
    internal string? Epoch { get; private set; }

    /// <summary>The highest chat id seen in this room (with <c>meta</c>), where a resume would start.</summary>
    internal long? LastSeenId { get; private set; }

    /// <summary>
    /// The room's chats as an enumeration with its own buffer of
    /// <see cref="ChatClientOptions.ReadBufferCapacity"/> messages; the first consumer also receives the
    /// backlog. Ends when the room is left or the connection ends cleanly; throws
    /// <see cref="ChatConnectionException"/> when the connection failed.
    /// </summary>
    /// <param name="cancellationToken">Stops this enumeration (with <see cref="OperationCanceledException"/>); the room stays joined.</param>
    public IAsyncEnumerable<ChatBroadcastMessage> ReadMessagesAsync(CancellationToken cancellationToken = default) =>
        _messages.ReadAsync(cancellationToken);

    /// <summary>Sends a chat line to this room. Safe to call from several threads at once.</summary>
    /// <param name="text">The text of the line.</param>
    /// <param name="cancellationToken">Abandons the send while it waits for its turn.</param>
    /// <exception cref="InvalidOperationException">The room is no longer joined.</exception>
    /// <exception cref="ArgumentException">The line is longer than the broker accepts (<see cref="ChatClient.ServerMaxLineLength"/>).</exception>
    /// <exception cref="ObjectDisposedException">The client was disposed.</exception>
    /// <exception cref="ChatConnectionException">The connection has ended or failed.</exception>
    public Task SendAsync(string text, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (!IsJoined)
        {
            throw new InvalidOperationException($"not in room '{Name}' any more");
        }

        return _client.SendLineAsync(new ChatMessage(text) { Room = Name }, cancellationToken);
    }

    /// <summary>
    /// Leaves the room and waits for the broker's <c>left</c>; the room's streams then complete.
    /// Does nothing when the room is no longer joined. A broker that answers <c>not in room</c> has
    /// already let the room go, so that counts as left too.
    /// </summary>
    /// <param name="cancellationToken">Stops waiting (with <see cref="OperationCanceledException"/>); the leave may still happen.</param>
    /// <exception cref="ChatRequestException">The broker refused, or did not answer within <see cref="ChatClientOptions.RequestTimeout"/>.</exception>
    /// <exception cref="ChatConnectionException">The connection ended before the answer.</exception>
    public Task LeaveAsync(CancellationToken cancellationToken = default) =>
        IsJoined ? _client.LeaveAsync(this, cancellationToken) : Task.CompletedTask;

    /// <summary>
    /// Leaves the room as <see cref="LeaveAsync"/> does, but never throws: when the leave cannot be
    /// confirmed (no answer in time, connection gone), the room is let go on this side anyway and its
    /// streams complete. Calling it again does nothing.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        if (!IsJoined)
        {
            return;
        }

        try
        {
            await LeaveAsync(CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is ChatMeshException or ObjectDisposedException)
        {
            // Best effort: the room goes from this side either way.
        }

        _client.Forget(this);
        End(ChatRoomCloseReason.LeftByClient, failure: null);
    }

    /// <inheritdoc />
    public override string ToString() => Name;

    /// <summary>Applies a presence change for this room (reader loop).</summary>
    internal void Apply(ServerMessage presence)
    {
        lock (_participantsLock)
        {
            if (!IsJoined)
            {
                return;
            }

            var current = _participants;
            string[]? next = presence switch
            {
                UserJoinedMessage joined when !current.Contains(joined.Nickname, StringComparer.Ordinal) => [.. current, joined.Nickname],
                UserLeftMessage left when current.Contains(left.Nickname, StringComparer.Ordinal) =>
                    current.Where(nickname => !string.Equals(nickname, left.Nickname, StringComparison.Ordinal)).ToArray(),
                _ => null,
            };
            if (next is not null)
            {
                _participants = Array.AsReadOnly(next);
                _participantsChanged.OnNext(_participants);
            }
        }
    }

    /// <summary>True for a chat already delivered (reader loop): its id is at or below the highest one delivered.</summary>
    internal bool IsDuplicate(ChatBroadcastMessage chat) => chat.Id is { } id && _highestDelivered is { } highest && id <= highest;

    /// <summary>Publishes a chat of this room to push consumers (reader loop); returns the pull consumers to feed.</summary>
    internal Channel<ChatBroadcastMessage>[] Publish(ChatBroadcastMessage chat)
    {
        if (chat.Id is { } id)
        {
            _highestDelivered = id;
            if (LastSeenId is null || id > LastSeenId)
            {
                LastSeenId = id;
            }
        }

        var replayed = chat.History == true;
        if (_resumeTarget is not null && !replayed)
        {
            // A live chat: whatever replay there was is over.
            FinishResume();
        }

        var pullers = _messages.Publish(chat);
        if (_resumeTarget is { } target && replayed)
        {
            _replayed++;
            if (chat.Id >= target)
            {
                FinishResume();
            }
        }

        return pullers;
    }

    /// <summary>
    /// The room was joined again on a new connection (reader loop): takes the broker's new
    /// <c>joined</c>; a resume that recovered waits for its replay, anything else says at once that
    /// messages may be missing, and starts the room's ids afresh (a new epoch may count from 1).
    /// </summary>
    internal void Rejoined(JoinedMessage joined)
    {
        _joined = joined;
        _resumeTarget = null;
        _resumed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        if (joined.Recovered == true)
        {
            if (joined.LastId is { } target && LastSeenId is { } after && target > after)
            {
                _resumeTarget = target;
                _replayed = 0;
            }
            else
            {
                Resumed(new ChatRoomResume(Recovered: true, Replayed: 0));
            }
        }
        else
        {
            Epoch = joined.Epoch;
            LastSeenId = joined.LastId;
            _highestDelivered = null;
            Resumed(new ChatRoomResume(Recovered: false, Replayed: 0));
        }

        lock (_participantsLock)
        {
            if (IsJoined)
            {
                _participants = Array.AsReadOnly(joined.Participants.ToArray());
                _participantsChanged.OnNext(_participants);
            }
        }
    }

    /// <summary>Completes once the latest rejoin's resume has been published (its replay delivered).</summary>
    internal Task ResumeDone => Volatile.Read(ref _resumed).Task;

    private void FinishResume()
    {
        _resumeTarget = null;
        Resumed(new ChatRoomResume(Recovered: true, Replayed: _replayed));
    }

    private void Resumed(ChatRoomResume resume)
    {
        try
        {
            _resumes.OnNext(resume);
        }
        finally
        {
            _resumed.TrySetResult();
        }
    }

    /// <summary>Ends the room once, with why; completes its streams (failing <see cref="Messages"/> with <paramref name="failure"/>).</summary>
    internal void End(ChatRoomCloseReason reason, Exception? failure)
    {
        if (Interlocked.Exchange(ref _ended, 1) != 0)
        {
            return;
        }

        _messages.Complete(failure);
        Volatile.Read(ref _resumed).TrySetResult();
        try
        {
            _resumes.OnCompleted();
        }
        catch (Exception)
        {
            // As below: the room is over whatever its observers do.
        }

        lock (_participantsLock)
        {
            try
            {
                _participantsChanged.OnCompleted();
            }
            catch (Exception)
            {
                // An observer that throws on completion changes nothing: the room is over.
            }
        }

        _completion.TrySetResult(reason);
    }
}
