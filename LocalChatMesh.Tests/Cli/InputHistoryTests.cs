using LocalChatMesh.Cli.Terminal;

namespace LocalChatMesh.Tests.Cli;

public class InputHistoryTests
{
    [Test]
    public void Up_walks_back_and_down_comes_forward_to_the_draft()
    {
        var history = new InputHistory();
        history.Add("one");
        history.Add("two");

        Assert.That(history.Previous("draft"), Is.EqualTo("two"));
        Assert.That(history.Previous("two"), Is.EqualTo("one"));
        Assert.That(history.Previous("one"), Is.Null, "nothing older");
        Assert.That(history.Next(), Is.EqualTo("two"));
        Assert.That(history.Next(), Is.EqualTo("draft"), "what was being typed comes back");
        Assert.That(history.Next(), Is.Null);
    }

    [Test]
    public void Repeats_and_blank_lines_are_not_recorded()
    {
        var history = new InputHistory();
        history.Add("same");
        history.Add("same");
        history.Add("   ");
        history.Add("");

        Assert.That(history.Lines, Is.EqualTo(new[] { "same" }));
    }

    [Test]
    public void The_oldest_lines_go_beyond_the_capacity()
    {
        var history = new InputHistory(capacity: 2);
        history.Add("a");
        history.Add("b");
        history.Add("c");

        Assert.That(history.Lines, Is.EqualTo(new[] { "b", "c" }));
    }

    [Test]
    public void Submitting_goes_back_to_a_fresh_draft()
    {
        var history = new InputHistory();
        history.Add("one");
        history.Previous("");
        history.Add("two");

        Assert.That(history.Previous(""), Is.EqualTo("two"));
    }
}
