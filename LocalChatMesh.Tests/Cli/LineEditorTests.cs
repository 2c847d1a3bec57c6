using LocalChatMesh.Cli.Terminal;

namespace LocalChatMesh.Tests.Cli;

public class LineEditorTests
{
    private static LineEditor Editor(string text, int? cursor = null)
    {
        var editor = new LineEditor();
        editor.SetText(text, cursor ?? text.Length);
        return editor;
    }

    [Test]
    public void Typing_inserts_at_the_cursor_and_drops_control_characters()
    {
        var editor = Editor("helo", 3);
        editor.Insert("l");
        editor.Insert("\u001b[2J\r\n");

        Assert.That((editor.Text, editor.Cursor), Is.EqualTo(("hell[2Jo", 7)));
    }

    [Test]
    public void Left_right_home_and_end_move_the_cursor_within_the_line()
    {
        var editor = Editor("abc");
        editor.Left();
        editor.Left();
        Assert.That(editor.Cursor, Is.EqualTo(1));
        editor.Home();
        editor.Left();
        Assert.That(editor.Cursor, Is.EqualTo(0), "never before the start");
        editor.End();
        editor.Right();
        Assert.That(editor.Cursor, Is.EqualTo(3), "never past the end");
    }

    [Test]
    public void The_cursor_steps_over_whole_characters_emoji_and_accents_included()
    {
        var editor = Editor("a😀e\u0301b");
        editor.Left();
        Assert.That(editor.Cursor, Is.EqualTo(5), "before b");
        editor.Left();
        Assert.That(editor.Cursor, Is.EqualTo(3), "before e + combining acute, one step");
        editor.Backspace();
        Assert.That(editor.Text, Is.EqualTo("ae\u0301b"), "the emoji goes whole, both surrogates");
    }

    [Test]
    public void Backspace_and_delete_remove_before_and_under_the_cursor()
    {
        var editor = Editor("abcd", 2);
        editor.Backspace();
        Assert.That((editor.Text, editor.Cursor), Is.EqualTo(("acd", 1)));
        editor.Delete();
        Assert.That((editor.Text, editor.Cursor), Is.EqualTo(("ad", 1)));
        editor.Home();
        editor.Backspace();
        editor.End();
        editor.Delete();
        Assert.That(editor.Text, Is.EqualTo("ad"), "nothing to delete at the edges");
    }

    [TestCase("hello big world", 15, "hello big ", 10)]
    [TestCase("hello big world  ", 17, "hello big ", 10)]
    [TestCase("hello big world", 9, "hello  world", 6)]
    [TestCase("word", 4, "", 0)]
    [TestCase("", 0, "", 0)]
    public void Ctrl_w_deletes_the_word_before_the_cursor(string text, int cursor, string expected, int expectedCursor)
    {
        var editor = Editor(text, cursor);
        editor.DeleteWordBefore();

        Assert.That((editor.Text, editor.Cursor), Is.EqualTo((expected, expectedCursor)));
    }

    [Test]
    public void Ctrl_u_deletes_before_the_cursor_and_ctrl_k_after_it()
    {
        var editor = Editor("hello world", 6);
        editor.DeleteToStart();
        Assert.That((editor.Text, editor.Cursor), Is.EqualTo(("world", 0)));
        editor.Right();
        editor.DeleteToEnd();
        Assert.That((editor.Text, editor.Cursor), Is.EqualTo(("w", 1)));
    }

    [Test]
    public void Word_moves_jump_to_word_boundaries()
    {
        var editor = Editor("one two  three", 0);
        editor.WordRight();
        Assert.That(editor.Cursor, Is.EqualTo(3));
        editor.WordRight();
        Assert.That(editor.Cursor, Is.EqualTo(7));
        editor.WordLeft();
        Assert.That(editor.Cursor, Is.EqualTo(4));
    }

    [Test]
    public void Take_returns_the_line_and_empties_it()
    {
        var editor = Editor("send me");

        Assert.That(editor.Take(), Is.EqualTo("send me"));
        Assert.That((editor.Text, editor.Cursor), Is.EqualTo(("", 0)));
    }

    [Test]
    public void A_short_line_shows_whole_with_the_cursor_where_it_is()
    {
        Assert.That(Editor("hello", 2).View(20), Is.EqualTo(("hello", 2)));
        Assert.That(Editor("hello").View(20), Is.EqualTo(("hello", 5)));
    }

    [Test]
    public void A_long_line_scrolls_so_the_cursor_stays_visible()
    {
        var text = string.Concat(Enumerable.Range(0, 30).Select(i => (char)('a' + (i % 26))));

        var (atEnd, endCursor) = Editor(text).View(10);
        Assert.That((atEnd, endCursor), Is.EqualTo((text[^9..], 9)), "the tail, with a cell left for the cursor");

        var (atStart, startCursor) = Editor(text, 0).View(10);
        Assert.That((atStart, startCursor), Is.EqualTo((text[..10], 0)));
    }

    [Test]
    public void Wide_characters_take_two_columns_in_the_view()
    {
        var (text, cursor) = Editor("日本語").View(20);

        Assert.That((text, cursor), Is.EqualTo(("日本語", 6)));
    }
}
