using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using System.Text.Unicode;

namespace LocalChatMesh.Protocol;

/// <summary>
/// Turns one line (without its <c>\n</c>) into a message, or into an error that names the
/// problem in the protocol's own terms.
/// </summary>
/// <remarks>
/// Decoding walks the line once with <see cref="Utf8JsonReader"/> instead of calling the
/// serializer: the serializer's errors name .NET types and paths, while a peer needs to hear
/// "missing field 'text'". Field order does not matter, unknown fields are skipped, and a known
/// field given twice is refused so that two readers can never disagree about what a line said.
/// An optional field given as JSON <c>null</c> reads as absent.
/// </remarks>
public static class MessageDecoder
{
    /// <summary>The deepest nesting accepted inside unknown fields.</summary>
    public const int MaxDepth = 32;

    private const int MaxEchoedLength = 40;

    private static readonly JsonReaderOptions ReaderOptions = new()
    {
        MaxDepth = MaxDepth,
        CommentHandling = JsonCommentHandling.Disallow,
        AllowTrailingCommas = false,
    };

    /// <summary>Decodes a line a client sent.</summary>
    /// <param name="line">The line, without its terminator.</param>
    /// <param name="message">The message, when decoding succeeded.</param>
    /// <param name="error">What is wrong with the line, when it did not.</param>
    public static bool TryDecodeClientMessage(
        ReadOnlySpan<byte> line,
        [NotNullWhen(true)] out ClientMessage? message,
        [NotNullWhen(false)] out string? error)
    {
        var decoded = DecodeClientMessage(line);
        message = decoded is UnreadableLine or MistypedField ? null : decoded;
        error = decoded switch
        {
            UnreadableLine unreadable => unreadable.Problem,
            MistypedField mistyped => mistyped.Problem,
            _ => null,
        };
        return message is not null;
    }

    /// <summary>
    /// Decodes a line a client sent, for the broker: a line that cannot be read becomes an
    /// <see cref="UnreadableLine"/> (with its type when it had one, so the broker can answer a
    /// version 1 client as it always has), and a chat whose only problem is a mistyped version 2
    /// field becomes a <see cref="MistypedField"/> that still carries the version 1 reading.
    /// </summary>
    internal static ClientMessage DecodeClientMessage(ReadOnlySpan<byte> line) =>
        PlainChatLine.TryRead(line, out var chat) ? chat : DecodeWithReader(line);

    /// <summary>
    /// <see cref="DecodeClientMessage"/> for any line, with the JSON reader: every line that is not
    /// a <see cref="PlainChatLine"/>, and those too when a test compares the two.
    /// </summary>
    internal static ClientMessage DecodeWithReader(ReadOnlySpan<byte> line)
    {
        if (!TryReadFields(line, out var fields, out var error))
        {
            return new UnreadableLine(error);
        }

        ClientMessage? message = null;
        switch (fields.Type)
        {
            case "hello":
                // The token is an extension: a broker without a secret ignores it like any unknown
                // field, whatever its type, and one with a secret refuses anything but the right string.
                if (fields.RequireString(Field.Nickname, out var nickname, out error)
                    && fields.OptionalStringArray(Field.Capabilities, out var capabilities, out error)
                    && fields.OptionalString(Field.Session, out var session, out error))
                {
                    message = new HelloMessage(nickname) { Token = fields.StringOrNull(Field.Token), Capabilities = capabilities, Session = session };
                }

                break;
            case "chat":
                if (fields.RequireUtf8Text(out var text, out error))
                {
                    message = fields.OptionalString(Field.Room, out var room, out error)
                        ? new ChatMessage(string.Empty) { Utf8Text = text, Room = room }
                        : new MistypedField(error!, new ChatMessage(string.Empty) { Utf8Text = text });
                    error = null;
                }

                break;
            case "join":
                if (fields.RequireString(Field.Room, out var joinRoom, out error)
                    && fields.OptionalCount(Field.History, out var history, out error)
                    && fields.OptionalCount(Field.After, out var after, out error)
                    && fields.OptionalString(Field.Epoch, out var epoch, out error))
                {
                    message = new JoinMessage(joinRoom)
                    {
                        History = history is { } count ? (int)Math.Min(count, int.MaxValue) : null,
                        After = after,
                        Epoch = epoch,
                    };
                }

                break;
            case "leave":
                if (fields.RequireString(Field.Room, out var leaveRoom, out error))
                {
                    message = new LeaveMessage(leaveRoom);
                }

                break;
            case "rooms":
                message = new ListRoomsMessage();
                break;
            case "who":
                if (fields.RequireString(Field.Room, out var whoRoom, out error))
                {
                    message = new WhoMessage(whoRoom);
                }

                break;
            case "direct":
                if (fields.RequireString(Field.To, out var to, out error)
                    && fields.RequireString(Field.Text, out var directText, out error))
                {
                    message = new DirectMessage(to, directText);
                }

                break;
            default:
                error = UnknownType(fields.Type!);
                break;
        }

        return message ?? new UnreadableLine(error!) { Type = fields.Type };
    }

    /// <summary>Decodes a line the broker sent.</summary>
    /// <param name="line">The line, without its terminator.</param>
    /// <param name="message">The message, when decoding succeeded.</param>
    /// <param name="error">What is wrong with the line, when it did not.</param>
    public static bool TryDecodeServerMessage(
        ReadOnlySpan<byte> line,
        [NotNullWhen(true)] out ServerMessage? message,
        [NotNullWhen(false)] out string? error)
    {
        message = null;
        if (!TryReadFields(line, out var fields, out error))
        {
            return false;
        }

        string? nickname;
        string? room;
        switch (fields.Type)
        {
            case "welcome":
                if (fields.RequireString(Field.Nickname, out nickname, out error)
                    && fields.OptionalStringArray(Field.Capabilities, out var capabilities, out error)
                    && fields.OptionalString(Field.Session, out var session, out error)
                    && fields.OptionalCount(Field.MaxLineLength, out var maxLine, out error))
                {
                    message = new WelcomeMessage(nickname)
                    {
                        Capabilities = capabilities,
                        Session = session,
                        MaxLineLength = maxLine is { } limit ? (int)Math.Min(limit, int.MaxValue) : null,
                    };
                }

                break;
            case "roster":
                if (fields.RequireStringArray(Field.Participants, out var participants, out error)
                    && fields.OptionalString(Field.Room, out room, out error))
                {
                    message = new RosterMessage(participants) { Room = room };
                }

                break;
            case "user_joined":
                if (fields.RequireString(Field.Nickname, out nickname, out error)
                    && fields.OptionalString(Field.Room, out room, out error))
                {
                    message = new UserJoinedMessage(nickname) { Room = room };
                }

                break;
            case "user_left":
                if (fields.RequireString(Field.Nickname, out nickname, out error)
                    && fields.OptionalString(Field.Room, out room, out error))
                {
                    message = new UserLeftMessage(nickname) { Room = room };
                }

                break;
            case "chat":
                if (fields.RequireString(Field.Nickname, out nickname, out error)
                    && fields.RequireString(Field.Text, out var text, out error)
                    && fields.OptionalString(Field.Room, out room, out error)
                    && fields.OptionalCount(Field.Id, out var id, out error)
                    && fields.OptionalTime(out var time, out error)
                    && fields.OptionalBool(Field.History, out var replayed, out error))
                {
                    message = new ChatBroadcastMessage(nickname, text) { Room = room, Id = id, Time = time, History = replayed };
                }

                break;
            case "error":
                if (fields.RequireString(Field.Message, out var problem, out error))
                {
                    message = new ErrorMessage(problem);
                }

                break;
            case "joined":
                if (fields.RequireString(Field.Room, out room, out error)
                    && fields.RequireStringArray(Field.Participants, out var members, out error)
                    && fields.OptionalString(Field.Epoch, out var epoch, out error)
                    && fields.OptionalCount(Field.LastId, out var lastId, out error)
                    && fields.OptionalBool(Field.Recovered, out var recovered, out error))
                {
                    message = new JoinedMessage(room, members) { Epoch = epoch, LastId = lastId, Recovered = recovered };
                }

                break;
            case "left":
                if (fields.RequireString(Field.Room, out room, out error))
                {
                    message = new LeftMessage(room);
                }

                break;
            case "room_list":
                if (fields.Rooms is { } rooms)
                {
                    message = new RoomListMessage(rooms);
                }
                else
                {
                    error = fields.Problem(Field.Rooms, "an array of {\"room\", \"members\"} objects");
                }

                break;
            case "direct":
                if (fields.RequireString(Field.From, out var from, out error)
                    && fields.RequireString(Field.To, out var to, out error)
                    && fields.RequireString(Field.Text, out var directText, out error)
                    && fields.OptionalCount(Field.Id, out var directId, out error)
                    && fields.OptionalTime(out var directTime, out error))
                {
                    message = new DirectDeliveryMessage(from, to, directText) { Id = directId, Time = directTime };
                }

                break;
            default:
                error = UnknownType(fields.Type!);
                break;
        }

        return message is not null;
    }

    private static string UnknownType(string type) => $"unknown message type '{Shorten(type)}'";

    /// <summary>The error a client that was not granted a type's capability receives for it, as before version 2.</summary>
    internal static string UnknownTypeError(string type) => UnknownType(type);

    private static string Shorten(string value) =>
        value.Length <= MaxEchoedLength ? value : string.Concat(value.AsSpan(0, MaxEchoedLength), "…");

    private static bool TryReadFields(ReadOnlySpan<byte> line, out Fields fields, [NotNullWhen(false)] out string? error)
    {
        fields = default;
        if (!Utf8.IsValid(line))
        {
            error = "invalid UTF-8";
            return false;
        }

        var reader = new Utf8JsonReader(line, ReaderOptions);
        try
        {
            if (!reader.Read())
            {
                error = "invalid JSON: the line is empty";
                return false;
            }

            if (reader.TokenType != JsonTokenType.StartObject)
            {
                error = "invalid message: expected a JSON object";
                return false;
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var field = Identify(ref reader);
                reader.Read();
                if (field == Field.Unknown)
                {
                    reader.Skip();
                    continue;
                }

                if (!fields.Seen(field))
                {
                    error = $"duplicate field '{Name(field)}'";
                    return false;
                }

                fields.Store(field, ref reader);
            }

            // The object is closed; anything after it but whitespace is a second value.
            if (reader.Read())
            {
                error = "invalid JSON: unexpected data after the object";
                return false;
            }
        }
        catch (JsonException exception)
        {
            error = Describe(exception);
            return false;
        }
        catch (InvalidOperationException)
        {
            // The reader checks a string's \u escapes only when the string is read (GetString,
            // CopyString), and throws this instead of a JsonException: a "\ud800" alone is JSON
            // syntax, but not text. The string being read is the reader's current token.
            error = $"invalid JSON at byte {reader.TokenStartIndex}: a \\u escape in a string is an unpaired surrogate";
            return false;
        }

        if (fields.KindOf(Field.Type) == Kind.Absent)
        {
            error = "missing field 'type'";
            return false;
        }

        if (fields.Type is null)
        {
            error = "field 'type' must be a string";
            return false;
        }

        error = null;
        return true;
    }

    private static string Describe(JsonException exception)
    {
        // The reader's text ends with "LineNumber: 0 | BytePositionInLine: 7."; we are on one line.
        var text = exception.Message;
        var cut = text.IndexOf(" LineNumber:", StringComparison.Ordinal);
        if (cut >= 0)
        {
            text = text[..cut];
        }

        return exception.BytePositionInLine is { } position
            ? $"invalid JSON at byte {position}: {text}"
            : $"invalid JSON: {text}";
    }

    private static readonly string[] Names =
    [
        "type", "nickname", "text", "token", "participants", "message", "capabilities", "session", "room",
        "history", "after", "epoch", "to", "from", "id", "time", "recovered", "last_id", "rooms", "max_line_length",
    ];

    private static readonly byte[][] Utf8Names = [.. Names.Select(name => System.Text.Encoding.UTF8.GetBytes(name))];

    private static readonly string[] TypeNames =
    [
        "chat", "hello", "join", "leave", "rooms", "who", "direct",
        "welcome", "roster", "user_joined", "user_left", "error", "joined", "left", "room_list",
    ];

    private static readonly byte[][] Utf8TypeNames = [.. TypeNames.Select(name => System.Text.Encoding.UTF8.GetBytes(name))];

    // The message types are few: the known ones come as the same string every time, not a new one per line.
    private static string? TypeName(ref Utf8JsonReader reader)
    {
        if (!reader.ValueIsEscaped && !reader.HasValueSequence)
        {
            var value = reader.ValueSpan;
            for (var i = 0; i < Utf8TypeNames.Length; i++)
            {
                if (value.SequenceEqual(Utf8TypeNames[i]))
                {
                    return TypeNames[i];
                }
            }
        }

        return reader.GetString();
    }

    private static Field Identify(ref Utf8JsonReader reader)
    {
        if (reader.ValueIsEscaped)
        {
            // Rare: a field name written with \u escapes. Unescape before comparing.
            var index = Array.IndexOf(Names, reader.GetString());
            return index < 0 ? Field.Unknown : (Field)index;
        }

        // The common names first, by length, before the rest: this runs for every field of every line.
        var name = reader.ValueSpan;
        switch (name.Length)
        {
            case 4 when name.SequenceEqual("type"u8):
                return Field.Type;
            case 4 when name.SequenceEqual("text"u8):
                return Field.Text;
            case 4 when name.SequenceEqual("room"u8):
                return Field.Room;
            case 8 when name.SequenceEqual("nickname"u8):
                return Field.Nickname;
        }

        for (var i = 0; i < Utf8Names.Length; i++)
        {
            if (name.SequenceEqual(Utf8Names[i]))
            {
                return (Field)i;
            }
        }

        return Field.Unknown;
    }

    private static string Name(Field field) => field == Field.Unknown ? "?" : Names[(int)field];

    // In the order of Names.
    private enum Field
    {
        Type,
        Nickname,
        Text,
        Token,
        Participants,
        Message,
        Capabilities,
        Session,
        Room,
        History,
        After,
        Epoch,
        To,
        From,
        Id,
        Time,
        Recovered,
        LastId,
        Rooms,
        MaxLineLength,
        Unknown,
    }

    private enum Kind : byte
    {
        Absent,
        Null,
        String,
        Integer,
        Number,
        Bool,
        StringArray,
        Other,
    }

    // The known fields of one line, each as the JSON gave it; only those its type needs are
    // checked afterwards, so each type names its own problems. Its arrays are the thread's own,
    // cleared per line: decoding runs once per line on the hot path and should allocate only the
    // message itself.
    private struct Fields
    {
        private const int Count = (int)Field.Unknown;

        [ThreadStatic]
        private static Kind[]? t_kinds;

        [ThreadStatic]
        private static string?[]? t_strings;

        [ThreadStatic]
        private static long[]? t_integers;

        private Kind[]? _kinds;
        private string?[]? _strings;
        private long[]? _integers;

        // The text is kept as UTF-8, as the line has it: a chat's text goes back out as UTF-8.
        private byte[]? _text;

        public readonly string? Type => _strings?[(int)Field.Type];

        public List<string>? Capabilities { get; private set; }

        public List<string>? Participants { get; private set; }

        public List<RoomSummary>? Rooms { get; private set; }

        public readonly Kind KindOf(Field field) => _kinds is null ? Kind.Absent : _kinds[(int)field];

        public readonly bool Seen(Field field) => KindOf(field) == Kind.Absent;

        public void Store(Field field, ref Utf8JsonReader reader)
        {
            _kinds ??= Rent(ref t_kinds);
            switch (reader.TokenType)
            {
                case JsonTokenType.Null:
                    _kinds[(int)field] = Kind.Null;
                    break;
                case JsonTokenType.String when field == Field.Text:
                    _kinds[(int)field] = Kind.String;
                    _text = Utf8Value(ref reader);
                    break;
                case JsonTokenType.String:
                    _kinds[(int)field] = Kind.String;
                    (_strings ??= Rent(ref t_strings))[(int)field] = field == Field.Type ? TypeName(ref reader) : reader.GetString();
                    break;
                case JsonTokenType.Number when reader.TryGetInt64(out var integer):
                    _kinds[(int)field] = Kind.Integer;
                    (_integers ??= Rent(ref t_integers))[(int)field] = integer;
                    break;
                case JsonTokenType.Number:
                    _kinds[(int)field] = Kind.Number;
                    break;
                case JsonTokenType.True or JsonTokenType.False:
                    _kinds[(int)field] = Kind.Bool;
                    (_integers ??= Rent(ref t_integers))[(int)field] = reader.TokenType == JsonTokenType.True ? 1 : 0;
                    break;
                case JsonTokenType.StartArray when field == Field.Rooms:
                    Rooms = ReadRooms(ref reader);
                    _kinds[(int)field] = Rooms is null ? Kind.Other : Kind.StringArray;
                    break;
                case JsonTokenType.StartArray when field is Field.Participants or Field.Capabilities:
                    var strings = ReadStrings(ref reader);
                    _kinds[(int)field] = strings is null ? Kind.Other : Kind.StringArray;
                    if (field == Field.Participants)
                    {
                        Participants = strings;
                    }
                    else
                    {
                        Capabilities = strings;
                    }

                    break;
                default:
                    _kinds[(int)field] = Kind.Other;
                    reader.Skip();
                    break;
            }
        }

        // The thread's array, cleared. A line is decoded completely before the next one starts on
        // this thread, and nothing keeps the arrays past the decoder's return.
        private static T[] Rent<T>(ref T[]? cached)
        {
            var array = cached ??= new T[Count];
            Array.Clear(array);
            return array;
        }

        public readonly bool RequireString(Field field, [NotNullWhen(true)] out string? value, out string? error)
        {
            value = KindOf(field) == Kind.String ? StringAt(field) : null;
            error = value is null ? Problem(field, "a string") : null;
            return value is not null;
        }

        public readonly bool RequireUtf8Text([NotNullWhen(true)] out byte[]? value, out string? error)
        {
            value = KindOf(Field.Text) == Kind.String ? _text : null;
            error = value is null ? Problem(Field.Text, "a string") : null;
            return value is not null;
        }

        // The string's unescaped UTF-8: the line's own bytes when it has no escapes (the usual case).
        private static byte[] Utf8Value(ref Utf8JsonReader reader)
        {
            if (!reader.ValueIsEscaped)
            {
                return reader.ValueSpan.ToArray();
            }

            // Unescaping never lengthens a string.
            var buffer = ArrayPool<byte>.Shared.Rent(reader.ValueSpan.Length);
            try
            {
                return buffer.AsSpan(0, reader.CopyString(buffer)).ToArray();
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }

        public readonly bool OptionalString(Field field, out string? value, out string? error)
        {
            value = null;
            error = null;
            switch (KindOf(field))
            {
                case Kind.Absent or Kind.Null:
                    return true;
                case Kind.String:
                    value = StringAt(field);
                    return true;
                default:
                    error = Problem(field, "a string");
                    return false;
            }
        }

        public readonly string? StringOrNull(Field field) => KindOf(field) == Kind.String ? StringAt(field) : null;

        // Only for a field read as a string.
        private readonly string StringAt(Field field) =>
            field == Field.Text ? System.Text.Encoding.UTF8.GetString(_text!) : _strings![(int)field]!;

        public readonly bool OptionalCount(Field field, out long? value, out string? error)
        {
            value = null;
            error = null;
            switch (KindOf(field))
            {
                case Kind.Absent or Kind.Null:
                    return true;
                case Kind.Integer when _integers![(int)field] >= 0:
                    value = _integers[(int)field];
                    return true;
                default:
                    error = Problem(field, "a non-negative integer");
                    return false;
            }
        }

        public readonly bool OptionalBool(Field field, out bool? value, out string? error)
        {
            value = null;
            error = null;
            switch (KindOf(field))
            {
                case Kind.Absent or Kind.Null:
                    return true;
                case Kind.Bool:
                    value = _integers![(int)field] == 1;
                    return true;
                default:
                    error = Problem(field, "true or false");
                    return false;
            }
        }

        public readonly bool OptionalTime(out DateTimeOffset? value, out string? error)
        {
            value = null;
            if (!OptionalString(Field.Time, out var text, out error))
            {
                return false;
            }

            if (text is null)
            {
                return true;
            }

            if (WireTimeConverter.TryParse(text, out var time))
            {
                value = time;
                return true;
            }

            error = Problem(Field.Time, "an RFC 3339 time");
            return false;
        }

        public readonly bool OptionalStringArray(Field field, out IReadOnlyList<string>? value, out string? error)
        {
            value = null;
            error = null;
            switch (KindOf(field))
            {
                case Kind.Absent or Kind.Null:
                    return true;
                case Kind.StringArray:
                    value = field == Field.Capabilities ? Capabilities : Participants;
                    return true;
                default:
                    error = Problem(field, "an array of strings");
                    return false;
            }
        }

        public readonly bool RequireStringArray(Field field, [NotNullWhen(true)] out IReadOnlyList<string>? value, out string? error)
        {
            value = KindOf(field) == Kind.StringArray ? (field == Field.Capabilities ? Capabilities : Participants) : null;
            error = value is null ? Problem(field, "an array of strings") : null;
            return value is not null;
        }

        public readonly string Problem(Field field, string expected) => KindOf(field) == Kind.Absent
            ? $"missing field '{Name(field)}'"
            : $"field '{Name(field)}' must be {expected}";

        // At the array's start; leaves the reader on its end. Null when an element is not a string.
        private static List<string>? ReadStrings(ref Utf8JsonReader reader)
        {
            var strings = new List<string>();
            var valid = true;
            while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
            {
                if (reader.TokenType != JsonTokenType.String)
                {
                    valid = false;
                    reader.Skip();
                    continue;
                }

                strings.Add(reader.GetString()!);
            }

            return valid ? strings : null;
        }

        // [{"room": "dev", "members": 3}, ...]; null when anything in it is not of that shape.
        private static List<RoomSummary>? ReadRooms(ref Utf8JsonReader reader)
        {
            var rooms = new List<RoomSummary>();
            var valid = true;
            while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
            {
                if (reader.TokenType != JsonTokenType.StartObject)
                {
                    valid = false;
                    reader.Skip();
                    continue;
                }

                string? room = null;
                long? members = null;
                while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                {
                    var name = reader.GetString();
                    reader.Read();
                    if (name == "room" && reader.TokenType == JsonTokenType.String)
                    {
                        room = reader.GetString();
                    }
                    else if (name == "members" && reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out var count) && count >= 0)
                    {
                        members = count;
                    }
                    else
                    {
                        reader.Skip();
                    }
                }

                if (room is null || members is null)
                {
                    valid = false;
                    continue;
                }

                rooms.Add(new RoomSummary(room, (int)Math.Min(members.Value, int.MaxValue)));
            }

            return valid ? rooms : null;
        }
    }
}
