using LocalChatMesh.Cli.Terminal;

namespace LocalChatMesh.Tests.Cli;

/// <summary>The interactive screen's plain models: status line, nickname colours, scrollback, wrapping, keys.</summary>
public class ScreenModelTests
{
    private static readonly DateTimeOffset Noon = new(2026, 12, 1, 12, 0, 0, TimeSpan.Zero);

    [Test]
    public void The_status_line_shows_nickname_room_other_rooms_with_unread_and_state()
    {
        var status = new StatusLine("alice", "dev", [new RoomUnread("lobby", 3), new RoomUnread("ops", 0)], ConnectionState.Connected);

        Assert.That(status.Render(), Is.EqualTo("[alice] [dev] lobby(3) ops  connected"));
        Assert.That((status with { State = ConnectionState.Reconnecting, OtherRooms = [] }).Render(), Is.EqualTo("[alice] [dev]  reconnecting"));
    }

    [Test]
    public void A_nickname_always_gets_the_same_colour_whatever_its_case()
    {
        var colours = new[] { "alice", "bob", "carol", "dave", "eve" }.Select(n => NicknameColors.Index(n, 12)).ToList();

        Assert.That(NicknameColors.Index("ALICE", 12), Is.EqualTo(colours[0]));
        Assert.That(colours, Is.All.InRange(0, 11));
        Assert.That(colours.Distinct().Count(), Is.GreaterThan(1), "different nicknames spread over the palette");
        Assert.That(NicknameColors.Index("alice", 12), Is.EqualTo(colours[0]), "stable from call to call");
    }

    [TestCase(false, null, true)]
    [TestCase(false, "", true)]
    [TestCase(false, "1", false)]
    [TestCase(true, null, false)]
    public void Colour_is_off_with_no_color_or_the_NO_COLOR_variable(bool option, string? variable, bool expected)
    {
        Assert.That(NicknameColors.Enabled(option, variable), Is.EqualTo(expected));
    }

    [Test]
    public void The_log_shows_the_newest_rows_with_timestamps_from_the_broker_when_given()
    {
        var log = new ScreenLog();
        var brokerTime = new DateTimeOffset(2026, 12, 1, 7, 20, 57, TimeSpan.Zero);
        log.Add(ChatLine.Notice("*** one"), Noon);
        log.Add(new ChatLine(LineKind.Chat, "<bob> two") { Time = brokerTime }, Noon);
        log.Add(ChatLine.Notice("*** three"), Noon);

        var rows = log.Rows(40, 2);

        Assert.That(rows.Select(r => r.Text), Is.EqualTo(new[] { Stamp(brokerTime) + "<bob> two", Stamp(Noon) + "*** three" }));
    }

    [Test]
    public void Long_lines_wrap_under_their_text_and_scrolling_pages_back()
    {
        var log = new ScreenLog();
        log.Add(ChatLine.Notice("first"), Noon);
        log.Add(ChatLine.Notice("aaaa bbbb cccc dddd"), Noon);
        var indent = new string(' ', Stamp(Noon).Length);

        Assert.That(log.Rows(Stamp(Noon).Length + 10, 3).Select(r => r.Text), Is.EqualTo(new[]
        {
            Stamp(Noon) + "first",
            Stamp(Noon) + "aaaa bbbb",
            indent + "cccc dddd",
        }));

        log.ScrollUp(1);
        Assert.That(log.Rows(Stamp(Noon).Length + 10, 2).Select(r => r.Text), Is.EqualTo(new[] { Stamp(Noon) + "first", Stamp(Noon) + "aaaa bbbb" }));
        log.ScrollUp(100);
        Assert.That(log.Rows(Stamp(Noon).Length + 10, 2)[0].Text, Is.EqualTo(Stamp(Noon) + "first"), "never past the oldest row");
        log.ScrollDown(100);
        Assert.That(log.ScrollOffset, Is.Zero);
    }

    [Test]
    public void The_log_keeps_only_its_capacity()
    {
        var log = new ScreenLog(capacity: 3);
        for (var i = 0; i < 10; i++)
        {
            log.Add(ChatLine.Notice($"line {i}"), Noon);
        }

        Assert.That(log.Count, Is.EqualTo(3));
        Assert.That(log.Rows(80, 10).Select(r => r.Text[Stamp(Noon).Length..]), Is.EqualTo(new[] { "line 7", "line 8", "line 9" }));
    }

    [TestCase("short", 10, new[] { "short" })]
    [TestCase("", 10, new[] { "" })]
    [TestCase("hello world again", 11, new[] { "hello world", "again" })]
    [TestCase("abcdefghijkl", 5, new[] { "abcde", "fghij", "kl" })]
    [TestCase("日本語日本語", 5, new[] { "日本", "語日", "本語" })]
    public void Text_wraps_at_spaces_and_inside_words_only_when_it_must(string text, int width, string[] expected)
    {
        Assert.That(TextWidth.Wrap(text, width), Is.EqualTo(expected));
    }

    [TestCase("abc", 3)]
    [TestCase("日本", 4)]
    [TestCase("e\u0301", 1)]
    [TestCase("😀", 2)]
    public void Columns_count_wide_characters_twice(string text, int columns)
    {
        Assert.That(TextWidth.Columns(text), Is.EqualTo(columns));
    }

    [Test]
    public void Keys_drive_the_editor_history_and_completion()
    {
        var input = new InputController(() => new CompletionSources(["bob"], ["dev"]));

        input.Type("b");
        input.Press(EditKey.Tab);
        input.Type("hi");
        Assert.That(input.Editor.Text, Is.EqualTo("bob: hi"));
        Assert.That(input.Press(EditKey.Enter), Is.EqualTo(InputOutcome.Submit));
        Assert.That(input.Submitted, Is.EqualTo("bob: hi"));
        Assert.That(input.Editor.Text, Is.Empty);

        input.Type("draft");
        input.Press(EditKey.Up);
        Assert.That(input.Editor.Text, Is.EqualTo("bob: hi"));
        input.Press(EditKey.Down);
        Assert.That(input.Editor.Text, Is.EqualTo("draft"));
        input.Press(EditKey.DeleteWordBefore);
        Assert.That(input.Editor.Text, Is.Empty);
    }

    [Test]
    public void Ctrl_d_leaves_on_an_empty_line_and_deletes_otherwise_and_ctrl_c_always_leaves()
    {
        var input = new InputController(() => new CompletionSources([], []));
        input.Type("ab");
        input.Press(EditKey.Home);

        Assert.That(input.Press(EditKey.EndOfInput), Is.EqualTo(InputOutcome.Edited));
        Assert.That(input.Editor.Text, Is.EqualTo("b"));
        Assert.That(input.Press(EditKey.Interrupt), Is.EqualTo(InputOutcome.Leave));
        input.Press(EditKey.Delete);
        Assert.That(input.Press(EditKey.EndOfInput), Is.EqualTo(InputOutcome.Leave));
    }

    private static string Stamp(DateTimeOffset time) => new LogEntry(ChatLine.Notice(""), time).Stamp;
}
