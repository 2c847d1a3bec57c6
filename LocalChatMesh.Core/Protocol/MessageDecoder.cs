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
        message = null;
        if (!TryReadFields(line, out var fields, out error))
        {
            return false;
        }

        switch (fields.Type)
        {
            case "hello":
                // The token is an extension: a broker without a secret ignores it like any unknown
                // field, whatever its type, and one with a secret refuses anything but the right string.
                if (fields.RequireString(Field.Nickname, out var nickname, out error))
                {
                    message = new HelloMessage(nickname) { Token = fields.StringOrNull(Field.Token) };
                }

                break;
            case "chat":
                if (fields.RequireString(Field.Text, out var text, out error))
                {
                    message = new ChatMessage(text);
                }

                break;
            default:
                error = UnknownType(fields.Type!);
                break;
        }

        return message is not null;
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
        switch (fields.Type)
        {
            case "welcome":
                if (fields.RequireString(Field.Nickname, out nickname, out error))
                {
                    message = new WelcomeMessage(nickname);
                }

                break;
            case "roster":
                if (fields.Participants is not null)
                {
                    message = new RosterMessage(fields.Participants);
                }
                else
                {
                    error = fields.Problem(Field.Participants, "an array of strings");
                }

                break;
            case "user_joined":
                if (fields.RequireString(Field.Nickname, out nickname, out error))
                {
                    message = new UserJoinedMessage(nickname);
                }

                break;
            case "user_left":
                if (fields.RequireString(Field.Nickname, out nickname, out error))
                {
                    message = new UserLeftMessage(nickname);
                }

                break;
            case "chat":
                if (fields.RequireString(Field.Nickname, out nickname, out error)
                    && fields.RequireString(Field.Text, out var text, out error))
                {
                    message = new ChatBroadcastMessage(nickname, text);
                }

                break;
            case "error":
                if (fields.RequireString(Field.Message, out var problem, out error))
                {
                    message = new ErrorMessage(problem);
                }

                break;
            default:
                error = UnknownType(fields.Type!);
                break;
        }

        return message is not null;
    }

    private static string UnknownType(string type) => $"unknown message type '{Shorten(type)}'";

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

        if (fields.Kinds[(int)Field.Type] == Kind.Absent)
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

    private static Field Identify(ref Utf8JsonReader reader)
    {
        if (reader.ValueIsEscaped)
        {
            // Rare: a field name written with \u escapes. Unescape before comparing.
            return reader.GetString() switch
            {
                "type" => Field.Type,
                "nickname" => Field.Nickname,
                "text" => Field.Text,
                "token" => Field.Token,
                "participants" => Field.Participants,
                "message" => Field.Message,
                _ => Field.Unknown,
            };
        }

        var name = reader.ValueSpan;
        return name switch
        {
            _ when name.SequenceEqual("type"u8) => Field.Type,
            _ when name.SequenceEqual("nickname"u8) => Field.Nickname,
            _ when name.SequenceEqual("text"u8) => Field.Text,
            _ when name.SequenceEqual("token"u8) => Field.Token,
            _ when name.SequenceEqual("participants"u8) => Field.Participants,
            _ when name.SequenceEqual("message"u8) => Field.Message,
            _ => Field.Unknown,
        };
    }

    private static string Name(Field field) => field switch
    {
        Field.Type => "type",
        Field.Nickname => "nickname",
        Field.Text => "text",
        Field.Token => "token",
        Field.Participants => "participants",
        Field.Message => "message",
        _ => "?",
    };

    private enum Field
    {
        Type,
        Nickname,
        Text,
        Token,
        Participants,
        Message,
        Unknown,
    }

    private enum Kind : byte
    {
        Absent,
        Valid,
        Null,
        WrongType,
    }

    // The known fields of one line; only those its type needs are checked afterwards.
    private struct Fields
    {
        private const int Count = (int)Field.Unknown;
        private string?[]? _strings;
        private Kind[]? _kinds;

        public string? Type => Strings[(int)Field.Type];

        public List<string>? Participants { get; private set; }

        public Kind[] Kinds => _kinds ??= new Kind[Count];

        private string?[] Strings => _strings ??= new string?[Count];

        public readonly bool Seen(Field field) => _kinds is null || _kinds[(int)field] == Kind.Absent;

        public void Store(Field field, ref Utf8JsonReader reader)
        {
            var kind = reader.TokenType switch
            {
                JsonTokenType.Null => Kind.Null,
                JsonTokenType.String when field != Field.Participants => Kind.Valid,
                JsonTokenType.StartArray when field == Field.Participants => Kind.Valid,
                _ => Kind.WrongType,
            };
            Kinds[(int)field] = kind;
            if (kind != Kind.Valid)
            {
                reader.Skip();
                return;
            }

            if (field != Field.Participants)
            {
                Strings[(int)field] = reader.GetString();
                return;
            }

            var participants = new List<string>();
            while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
            {
                if (reader.TokenType != JsonTokenType.String)
                {
                    Kinds[(int)field] = Kind.WrongType;
                    reader.Skip();
                    continue;
                }

                participants.Add(reader.GetString()!);
            }

            Participants = Kinds[(int)field] == Kind.Valid ? participants : null;
        }

        public bool RequireString(Field field, [NotNullWhen(true)] out string? value, out string? error)
        {
            value = Strings[(int)field];
            error = value is null ? Problem(field, "a string") : null;
            return value is not null;
        }

        public string? StringOrNull(Field field) => Strings[(int)field];

        public string Problem(Field field, string expected) => Kinds[(int)field] == Kind.Absent
            ? $"missing field '{Name(field)}'"
            : $"field '{Name(field)}' must be {expected}";
    }
}
