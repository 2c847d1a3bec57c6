using LocalChatMesh.Cli.Terminal;
using LocalChatMesh.Protocol;

namespace LocalChatMesh.Tests.Cli;

public class TerminalRendererTests
{
    private static readonly object[] Lines =
    [
        new object[] { new WelcomeMessage("alice"), "*** connected as alice", false },
        new object[] { new RosterMessage(["bob", "carol"]), "*** currently online: bob, carol", false },
        new object[] { new UserJoinedMessage("dave"), "*** dave joined the chat", false },
        new object[] { new UserLeftMessage("bob"), "*** bob left the chat", false },
        new object[] { new ChatBroadcastMessage("alice", "hello world"), "<alice> hello world", false },
        new object[] { new ErrorMessage("nickname 'alice' is already in use"), "!!! nickname 'alice' is already in use", true },
    ];

    private static readonly object[] HostileLines =
    [
        new object[] { new WelcomeMessage("al\u001b[31mice"), @"*** connected as al\x1b[31mice" },
        new object[] { new RosterMessage(["b\u202eob", "\u001b[2J"]), @"*** currently online: b\u202eob, \x1b[2J" },
        new object[] { new UserJoinedMessage("da\u0007ve\r"), @"*** da\x07ve\x0d joined the chat" },
        new object[] { new UserLeftMessage("\u009b2Jbob"), @"*** \u009b2Jbob left the chat" },
        new object[] { new ChatBroadcastMessage("eve\u2066", "hi\u001b]0;title\u0007\nfake line\u2028"), @"<eve\u2066> hi\x1b]0;title\x07\x0afake line\u2028" },
        new object[] { new ErrorMessage("bad\u001b[K\u200f"), @"!!! bad\x1b[K\u200f" },
    ];

    [TestCaseSource(nameof(Lines))]
    public void Renders_each_server_message_as_its_line(ServerMessage message, string expected, bool isError)
    {
        Assert.That(TerminalRenderer.Render(message), Is.EqualTo(new TerminalLine(expected, isError)));
    }

    [TestCaseSource(nameof(HostileLines))]
    public void Neutralises_hostile_text_in_every_field(ServerMessage message, string expected)
    {
        Assert.That(TerminalRenderer.Render(message).Text, Is.EqualTo(expected));
    }
}
