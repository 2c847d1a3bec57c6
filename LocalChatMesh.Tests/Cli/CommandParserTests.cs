using LocalChatMesh.Cli.Terminal;

namespace LocalChatMesh.Tests.Cli;

public class CommandParserTests
{
    private static readonly object[] Commands =
    [
        new object[] { "hello world", new SayCommand("hello world") },
        new object[] { "  spaced  ", new SayCommand("  spaced  ") },
        new object[] { "", new NoCommand() },
        new object[] { "   ", new NoCommand() },
        new object[] { "/quit", new QuitCommand() },
        new object[] { "  /quit  ", new QuitCommand() },
        new object[] { "/QUIT", new QuitCommand() },
        new object[] { "/help", new HelpCommand() },
        new object[] { "/join dev", new JoinCommand("dev") },
        new object[] { "/join  dev ", new JoinCommand("dev") },
        new object[] { "/leave", new LeaveCommand(null) },
        new object[] { "/leave dev", new LeaveCommand("dev") },
        new object[] { "/switch dev", new SwitchCommand("dev") },
        new object[] { "/rooms", new RoomsCommand() },
        new object[] { "/who", new WhoCommand(null) },
        new object[] { "/who dev", new WhoCommand("dev") },
        new object[] { "/msg bob hi there", new DirectCommand("bob", "hi there") },
        new object[] { "/msg bob  two  spaces", new DirectCommand("bob", " two  spaces") },
        new object[] { "//shrug", new SayCommand("/shrug") },
        new object[] { "//", new SayCommand("/") },
        new object[] { "/ ", new RefusedCommand("unknown command /: /help lists the commands, // sends it as text") },
        new object[] { "/nick bob", new RefusedCommand("unknown command /nick: /help lists the commands, //nick sends it as text") },
        new object[] { "/join", new RefusedCommand("usage: /join ROOM") },
        new object[] { "/join a b", new RefusedCommand("usage: /join ROOM") },
        new object[] { "/join bad/name", new RefusedCommand("invalid room name 'bad/name': 1-32 letters, digits, '-', '_' or '.'") },
        new object[] { "/switch", new RefusedCommand("usage: /switch ROOM") },
        new object[] { "/msg bob", new RefusedCommand("usage: /msg NICK TEXT") },
        new object[] { "/msg", new RefusedCommand("usage: /msg NICK TEXT") },
        new object[] { "/quit now", new RefusedCommand("usage: /quit") },
        new object[] { "/rooms all", new RefusedCommand("usage: /rooms") },
        new object[] { "/who a b", new RefusedCommand("usage: /who [ROOM]") },
        new object[] { "/history", new HistoryCommand(20) },
        new object[] { "/HISTORY 5", new HistoryCommand(5) },
        new object[] { "/history 1000", new HistoryCommand(1000) },
        new object[] { "/history 0", new RefusedCommand("usage: /history [N] (N from 1 to 1000)") },
        new object[] { "/history 1001", new RefusedCommand("usage: /history [N] (N from 1 to 1000)") },
        new object[] { "/history -3", new RefusedCommand("usage: /history [N] (N from 1 to 1000)") },
        new object[] { "/history ten", new RefusedCommand("usage: /history [N] (N from 1 to 1000)") },
        new object[] { "/history 99999999999", new RefusedCommand("usage: /history [N] (N from 1 to 1000)") },
        new object[] { "/history 5 6", new RefusedCommand("usage: /history [N] (N from 1 to 1000)") },
    ];

    [TestCaseSource(nameof(Commands))]
    public void Parses_each_line_into_its_command(string line, object expected)
    {
        Assert.That(CommandParser.Parse(line), Is.EqualTo(expected));
    }

    [TestCase("lobby", true)]
    [TestCase("dev-ops_2.0", true)]
    [TestCase("ABCDEFGHIJKLMNOPQRSTUVWXYZ012345", true)]
    [TestCase("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456", false)]
    [TestCase("", false)]
    [TestCase("café", false)]
    [TestCase("a b", false)]
    public void Room_names_follow_the_protocol(string room, bool valid)
    {
        Assert.That(CommandParser.IsValidRoomName(room), Is.EqualTo(valid));
    }

    [Test]
    public void Help_names_every_command()
    {
        foreach (var name in CommandParser.Names)
        {
            Assert.That(CommandParser.Help.Any(line => line.Contains(name + " ", StringComparison.Ordinal)), name);
        }
    }
}
