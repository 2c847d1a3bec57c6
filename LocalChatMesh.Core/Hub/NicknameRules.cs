using System.Globalization;
using System.Text;

namespace LocalChatMesh.Hub;

/// <summary>The nickname rules of the handshake, apart from uniqueness, which needs the roster.</summary>
internal static class NicknameRules
{
    public const int MaxLength = 32;

    /// <summary>Trims the nickname and checks it; returns the refusal text, or null when it is acceptable.</summary>
    public static string? Check(string raw, out string nickname)
    {
        nickname = raw.Trim();
        if (nickname.Length == 0)
        {
            return "nickname cannot be empty";
        }

        var length = 0;
        foreach (var rune in nickname.EnumerateRunes())
        {
            length++;
            if (Rune.IsControl(rune) || Rune.IsWhiteSpace(rune) || IsFormat(rune))
            {
                return "nickname cannot contain control, format or whitespace characters";
            }
        }

        return length > MaxLength ? $"nickname cannot be longer than {MaxLength} characters" : null;
    }

    /// <summary>
    /// The key under which a nickname is reserved: compatibility-normalised and upper-cased, so
    /// that "Alice", "alice" and a full-width "ａｌｉｃｅ" cannot be online together.
    /// </summary>
    public static string Key(string nickname) =>
        nickname.Normalize(NormalizationForm.FormKC).ToUpperInvariant();

    private static bool IsFormat(Rune rune) =>
        Rune.GetUnicodeCategory(rune) is UnicodeCategory.Format
            or UnicodeCategory.LineSeparator
            or UnicodeCategory.ParagraphSeparator;
}
