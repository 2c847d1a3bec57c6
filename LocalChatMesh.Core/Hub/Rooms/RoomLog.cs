using LocalChatMesh.Protocol;

namespace LocalChatMesh.Hub.Rooms;

/// <summary>
/// A room's ordered, bounded log: every event of the room in the one order all members see, at
/// increasing positions. Its chats are the room's history (ids increasing with position); presence
/// entries stay only while a member catching up still has to read them. Touched under the hub's lock.
/// </summary>
/// <remarks>
/// A chat is a slot in a ring of structs and its text a run of bytes in a block shared with the
/// chats around it, not an object of its own: a room's history is a few arrays to the GC, where a
/// thousand retained chat objects (and their texts) were promoted and traced one by one in every
/// collection, about a quarter of a 20-room broker's CPU (BENCHMARKS.md, "History in blocks").
/// </remarks>
internal sealed class RoomLog(string roomName)
{
    // What one retained chat is counted as for the history byte limits: its slot, its place in the
    // hub's history queue, its text, the replay frame once somebody asks for it, and a margin. The
    // figure of the object-per-chat layout, kept so the limits keep their meaning (an overestimate now).
    private const int ChatOverhead = 400;
    private const int PresenceBytes = 128;

    // Text blocks start small (a room with a few chats holds little) and double up to a size that
    // stays out of the large object heap; a text longer than that gets a block of its own.
    private const int FirstBlockBytes = 256;
    private const int LargestBlockBytes = 16 * 1024;

    private Slot[] _slots = [];
    private int _head;
    private byte[]? _block;
    private int _blockUsed;

    /// <summary>The position of the oldest entry held; equal to <see cref="NextPosition"/> when empty.</summary>
    public long FirstPosition { get; private set; }

    public long NextPosition => FirstPosition + Count;

    public int Count { get; private set; }

    public int ChatCount { get; private set; }

    /// <summary>Presence entries held (for members catching up).</summary>
    public int PresenceCount => Count - ChatCount;

    /// <summary>The estimated memory its entries hold, presence included.</summary>
    public long Bytes { get; private set; }

    /// <summary>The id of the newest chat ever appended, 0 when none.</summary>
    public long LastId { get; private set; }

    /// <summary>The id of the newest chat the log has let go, 0 when none: resume works only after it.</summary>
    public long LastDroppedId { get; private set; }

    /// <summary>Whether the oldest entry held is presence.</summary>
    public bool FrontIsPresence => Count > 0 && _slots[_head].Presence is not null;

    /// <summary>Whether the chat with this id (appended here) is still held.</summary>
    public bool Holds(long chatId) => chatId > LastDroppedId && chatId <= LastId;

    /// <summary>Appends a chat, copying its text; returns its position.</summary>
    public long AppendChat(long id, DateTimeOffset time, string nickname, ReadOnlySpan<byte> utf8Text)
    {
        var (block, start) = Place(utf8Text);
        var position = Add(new Slot
        {
            Id = id,
            UtcTicks = time.UtcTicks,
            Nickname = nickname,
            Block = block,
            TextStart = start,
            TextLength = utf8Text.Length,
        });
        ChatCount++;
        LastId = id;
        return position;
    }

    /// <summary>Appends presence (kept only while a member catching up must read it in order).</summary>
    public long AppendPresence(PresenceEntry presence) => Add(new Slot { Presence = presence });

    /// <summary>The id of the chat at a position held, 0 for presence.</summary>
    public long ChatIdAt(long position) => SlotAt(position).Id;

    /// <summary>
    /// The frame of the entry at a position held. A chat's live forms are encoded on each call (the
    /// live fan-out asks once per form; members catching up are few), its replay frame once.
    /// </summary>
    public byte[] Frame(long position, WireForm form)
    {
        ref var slot = ref SlotAt(position);
        if (slot.Presence is { } presence)
        {
            return presence.Frame(form);
        }

        return form == WireForm.History ? slot.ReplayFrame ??= Encode(slot, form) : Encode(slot, form);
    }

    /// <summary>The message a frame of the entry at a position stands for: what <see cref="Frame"/> must equal (tests).</summary>
    internal ServerMessage Message(long position, WireForm form)
    {
        ref var slot = ref SlotAt(position);
        if (slot.Presence is { } presence)
        {
            return presence.Message(form);
        }

        return new ChatBroadcastMessage(slot.Nickname, System.Text.Encoding.UTF8.GetString(Text(slot)))
        {
            Room = form.HasRoom() ? roomName : null,
            Id = form.HasMeta() ? slot.Id : null,
            Time = form.HasMeta() ? Time(slot) : null,
            History = form.History(),
        };
    }

    /// <summary>Lets go of the oldest entry; says whether it was a chat and the bytes it was counted as.</summary>
    public (bool Chat, long Bytes) DropFront()
    {
        ref var slot = ref _slots[_head];
        var chat = slot.Presence is null;
        var bytes = SizeOf(slot);
        if (chat)
        {
            ChatCount--;
            LastDroppedId = slot.Id;
        }

        slot = default;
        _head = (_head + 1) & (_slots.Length - 1);
        Count--;
        FirstPosition++;
        Bytes -= bytes;
        if (Count == 0)
        {
            Release();
        }

        return (chat, bytes);
    }

    /// <summary>
    /// Lets go of every presence entry held, the ones between chats included, and moves the later
    /// entries up; returns the bytes freed. Positions change: only while nobody reads the log with a cursor.
    /// </summary>
    public long ForgetPresence()
    {
        var kept = new Slot[Capacity(ChatCount)];
        var count = 0;
        long freed = 0;
        for (var i = 0; i < Count; i++)
        {
            ref var slot = ref _slots[(_head + i) & (_slots.Length - 1)];
            if (slot.Presence is null)
            {
                kept[count++] = slot;
            }
            else
            {
                freed += SizeOf(slot);
            }
        }

        _slots = kept;
        _head = 0;
        Count = count;
        Bytes -= freed;
        if (Count == 0)
        {
            Release();
        }

        return freed;
    }

    /// <summary>Where a replay of the last <paramref name="count"/> chats starts.</summary>
    public long PositionOfLastChats(int count)
    {
        var position = NextPosition;
        while (position > FirstPosition && count > 0)
        {
            position--;
            if (SlotAt(position).Presence is null)
            {
                count--;
            }
        }

        return position;
    }

    /// <summary>Where the first chat with an id above <paramref name="id"/> is (or the end).</summary>
    public long PositionAfterId(long id)
    {
        var position = NextPosition;
        while (position > FirstPosition)
        {
            ref var slot = ref SlotAt(position - 1);
            if (slot.Presence is null && slot.Id <= id)
            {
                break;
            }

            position--;
        }

        return position;
    }

    private static int Capacity(int count) => count == 0 ? 0 : (int)Math.Max(4, System.Numerics.BitOperations.RoundUpToPowerOf2((uint)count));

    private static long SizeOf(in Slot slot) =>
        slot.Presence is null ? ChatOverhead + (3L * (slot.Nickname.Length + slot.TextLength)) : PresenceBytes;

    private static DateTimeOffset Time(in Slot slot) => new(slot.UtcTicks, TimeSpan.Zero);

    private static ReadOnlySpan<byte> Text(in Slot slot) => slot.Block.AsSpan(slot.TextStart, slot.TextLength);

    // Straight from the slot: no message object per chat and form (the same bytes as Message's, tested).
    private byte[] Encode(in Slot slot, WireForm form) => MessageEncoder.EncodeChat(
        slot.Nickname,
        Text(slot),
        form.HasRoom() ? roomName : null,
        form.HasMeta() ? slot.Id : null,
        form.HasMeta() ? Time(slot) : null,
        form.History());

    private ref Slot SlotAt(long position)
    {
        var offset = position - FirstPosition;
        if ((ulong)offset >= (ulong)Count)
        {
            throw new ArgumentOutOfRangeException(nameof(position), position, $"not held: {FirstPosition}..{NextPosition - 1}");
        }

        return ref _slots[(_head + (int)offset) & (_slots.Length - 1)];
    }

    private long Add(in Slot slot)
    {
        if (Count == _slots.Length)
        {
            var bigger = new Slot[Capacity(Count + 1)];
            for (var i = 0; i < Count; i++)
            {
                bigger[i] = _slots[(_head + i) & (_slots.Length - 1)];
            }

            _slots = bigger;
            _head = 0;
        }

        var position = NextPosition;
        _slots[(_head + Count) & (_slots.Length - 1)] = slot;
        Count++;
        Bytes += SizeOf(slot);
        return position;
    }

    // Copies a text into the current block, or a new one when it does not fit.
    private (byte[] Block, int Start) Place(ReadOnlySpan<byte> text)
    {
        if (_block is null || _block.Length - _blockUsed < text.Length)
        {
            var size = _block is null ? FirstBlockBytes : Math.Min(_block.Length * 2, LargestBlockBytes);
            _block = GC.AllocateUninitializedArray<byte>(Math.Max(size, text.Length));
            _blockUsed = 0;
        }

        var start = _blockUsed;
        text.CopyTo(_block.AsSpan(start));
        _blockUsed += text.Length;
        return (_block, start);
    }

    // An empty log holds no arrays: a room without history costs nothing here.
    private void Release()
    {
        _slots = [];
        _head = 0;
        _block = null;
        _blockUsed = 0;
    }

    // One entry. A chat's fields inline (Presence null), or a presence entry.
    private struct Slot
    {
        public long Id;
        public long UtcTicks;
        public string Nickname;
        public byte[] Block;
        public int TextStart;
        public int TextLength;
        public PresenceEntry? Presence;

        // The chat's replay frame, once somebody asked for it: a join storm replays the same chats to many.
        public byte[]? ReplayFrame;
    }
}
