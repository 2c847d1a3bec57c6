using LocalChatMesh.Cli.Terminal;

namespace LocalChatMesh.Tests.Cli;

public class CompleterTests
{
    private static readonly CompletionSources Sources = new(["bob", "Bella", "carol"], ["dev", "lobby", "design"]);

    [TestCase("ca", 2, "carol: ", 7)]
    [TestCase("hi ca", 5, "hi carol ", 9)]
    [TestCase("/jo", 3, "/join ", 6)]
    [TestCase("/hi", 3, "/history ", 9)]
    [TestCase("/join de", 8, "/join design ", 13)]
    [TestCase("/switch lo", 10, "/switch lobby ", 14)]
    [TestCase("/msg ca", 7, "/msg carol ", 11)]
    [TestCase("ca and more", 2, "carol: and more", 7)]
    public void Tab_completes_the_word_before_the_cursor_from_what_fits_there(string text, int cursor, string expected, int expectedCursor)
    {
        Assert.That(new Completer().Complete(text, cursor, Sources), Is.EqualTo((expected, expectedCursor)));
    }

    [Test]
    public void Nothing_matching_changes_nothing()
    {
        Assert.That(new Completer().Complete("zed", 3, Sources), Is.Null);
        Assert.That(new Completer().Complete("/zz", 3, Sources), Is.Null);
    }

    [Test]
    public void Repeated_tab_cycles_through_the_matches_alphabetically_ignoring_case()
    {
        var completer = new Completer();
        var first = completer.Complete("b", 1, Sources)!.Value;
        var second = completer.Complete(first.Text, first.Cursor, Sources)!.Value;
        var third = completer.Complete(second.Text, second.Cursor, Sources)!.Value;

        Assert.That(new[] { first.Text, second.Text, third.Text }, Is.EqualTo(new[] { "Bella: ", "bob: ", "Bella: " }));
    }

    [Test]
    public void Typing_in_between_starts_a_new_completion()
    {
        var completer = new Completer();
        completer.Complete("b", 1, Sources);

        Assert.That(completer.Complete("Bella: c", 8, Sources), Is.EqualTo(("Bella: carol ", 13)));
    }
}
