using LocalChatMesh.Cli.Terminal;

namespace LocalChatMesh.Tests.Cli;

public class TextSanitizerTests
{
    [TestCase("hello world")]
    [TestCase("héllo wörld, привет, こんにちは, مرحبا")]
    [TestCase("emoji 🙂🚀 and a backslash \\x1b typed by hand")]
    [TestCase("")]
    public void Leaves_ordinary_text_alone(string text)
    {
        Assert.That(TextSanitizer.Sanitize(text), Is.SameAs(text));
    }

    [TestCase("\u001b[2J", @"\x1b[2J")]
    [TestCase("\u001b]0;title\u0007", @"\x1b]0;title\x07")]
    [TestCase("a\rb\nc\td\be", @"a\x0db\x0ac\x09d\x08e")]
    [TestCase("\0\u0001\u001f", @"\x00\x01\x1f")]
    [TestCase("del\u007f", @"del\x7f")]
    [TestCase("csi\u009b31m nel\u0085 \u0080", @"csi\u009b31m nel\u0085 \u0080")]
    [TestCase("abc\u202edcba", @"abc\u202edcba")]
    [TestCase("\u202a\u202b\u202c\u202d", @"\u202a\u202b\u202c\u202d")]
    [TestCase("\u2066\u2067\u2068\u2069", @"\u2066\u2067\u2068\u2069")]
    [TestCase("\u200e\u200f\u061c", @"\u200e\u200f\u061c")]
    [TestCase("zero\u200bwidth\u200c\u200d\u2060\ufeff", @"zero\u200bwidth\u200c\u200d\u2060\ufeff")]
    [TestCase("line\u2028para\u2029", @"line\u2028para\u2029")]
    [TestCase("tag\U000E0041", @"tag\U000e0041")]
    public void Escapes_characters_that_could_steer_the_terminal(string hostile, string expected)
    {
        Assert.That(TextSanitizer.Sanitize(hostile), Is.EqualTo(expected));
    }

    [Test]
    public void Escapes_lone_surrogates_but_keeps_pairs()
    {
        Assert.That(TextSanitizer.Sanitize("a\ud800b\udc00c🙂"), Is.EqualTo(@"a\ud800b\udc00c🙂"));
    }

    [Test]
    public void Leaves_no_control_or_format_character_in_any_output()
    {
        var everything = string.Concat(Enumerable.Range(0, 0x3000).Select(i => (char)i));

        var sanitized = TextSanitizer.Sanitize(everything);

        var unsafeLeft = sanitized.Where(c => char.IsControl(c) || char.IsSurrogate(c) || c is '\u2028' or '\u2029'
            || char.GetUnicodeCategory(c) == System.Globalization.UnicodeCategory.Format).ToArray();
        Assert.That(unsafeLeft, Is.Empty);
    }

    [Test]
    public void Json_lines_keep_their_meaning_with_unsafe_characters_as_json_escapes()
    {
        var line = "{\"type\":\"chat\",\"nickname\":\"eve\u202e\",\"text\":\"x\u0085\u2028\U000E0041\"}";

        var sanitized = TextSanitizer.SanitizeJson(line);

        Assert.That(sanitized, Is.EqualTo("""{"type":"chat","nickname":"eve\u202e","text":"x\u0085\u2028\udb40\udc41"}"""));
        Assert.That(
            System.Text.Json.JsonDocument.Parse(sanitized).RootElement.GetProperty("text").GetString(),
            Is.EqualTo("x\u0085\u2028\U000E0041"));
    }
}
