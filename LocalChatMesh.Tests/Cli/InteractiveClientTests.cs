using System.Text.RegularExpressions;
using LocalChatMesh.Protocol;
using LocalChatMesh.Tests.Support;

namespace LocalChatMesh.Tests.Cli;

/// <summary>
/// The interactive client in a real pseudo-terminal (tmux), against a real broker, typed at the
/// way a person types: the screen is read back and checked row by row.
/// </summary>
[Platform(Exclude = "Win")]
public class InteractiveClientTests
{
    private const string Prompt = "> ";

    [Test]
    public async Task A_half_typed_line_stays_intact_at_the_bottom_while_messages_arrive_above_it()
    {
        await using var broker = await TestBroker.StartAsync();
        await using var tmux = await StartClientAsync(broker, "alice");
        await using var bob = await RawClient.JoinAsync(broker.LocalEndPoint, "bob");
        await bob.ExpectAsync<RosterMessage>();
        await tmux.WaitForTextAsync("*** bob joined the chat");

        const string half = "this is a half-typed li";
        await tmux.TypeAsync(half);
        await tmux.WaitForScreenAsync(s => s[^1] == Prompt + half, "the half-typed line");
        for (var i = 1; i <= 8; i++)
        {
            await bob.SendChatAsync($"bob message {i}");
        }

        var screen = await tmux.WaitForTextAsync("<bob> bob message 8");
        Assert.Multiple(() =>
        {
            Assert.That(screen[^1], Is.EqualTo(Prompt + half), "the input line is untouched:\n" + TmuxSession.Show(screen));
            Assert.That(screen[^2], Does.StartWith("[alice] [lobby]"), "the status line sits right above it");
            var arrivals = screen.Take(screen.Count - 2).Where(r => r.Contains("<bob>", StringComparison.Ordinal)).ToList();
            Assert.That(arrivals, Has.Count.EqualTo(8), TmuxSession.Show(screen));
            for (var i = 0; i < arrivals.Count; i++)
            {
                Assert.That(arrivals[i], Does.Match(Stamped($"<bob> bob message {i + 1}")), "each arrival whole, on its own row, in order");
            }

            Assert.That(screen.Take(screen.Count - 1).Where(r => r.Contains("half-typed", StringComparison.Ordinal)), Is.Empty, "nothing typed leaks into the log");
        });

        // The terminal shrinks: the input line and the status line stay at the bottom.
        await tmux.ResizeAsync(70, 14);
        screen = await tmux.WaitForScreenAsync(s => s.Count == 14 && s[^1] == Prompt + half && s[^2].StartsWith("[alice]", StringComparison.Ordinal), "the input line at the bottom after a resize");
        Assert.That(screen[^3], Does.Match(Stamped("<bob> bob message 8")));

        await tmux.TypeAsync("ne");
        await tmux.PressAsync("Enter");

        Assert.That(await NextChatFromAsync(bob, "alice"), Is.EqualTo("this is a half-typed line"), "the text sent is what was typed");
        screen = await tmux.WaitForTextAsync("<alice> this is a half-typed line");
        Assert.That(screen.Count(r => r.Contains("this is a half-typed line", StringComparison.Ordinal)), Is.EqualTo(1), "your own line shows once:\n" + TmuxSession.Show(screen));
        Assert.That(screen[^1], Is.EqualTo(Prompt.TrimEnd()), "the input line is empty again");
    }

    [Test]
    public async Task Editing_keys_history_and_completion_change_the_line_the_way_it_shows()
    {
        await using var broker = await TestBroker.StartAsync();
        await using var tmux = await StartClientAsync(broker, "alice");
        await using var bob = await RawClient.JoinAsync(broker.LocalEndPoint, "bob");
        await bob.ExpectAsync<RosterMessage>();
        await tmux.WaitForTextAsync("*** bob joined the chat");

        // Left three times, then a correction in the middle.
        await tmux.TypeAsync("hello wrld");
        await tmux.PressAsync("Left", "Left", "Left");
        await tmux.TypeAsync("o");
        await InputLineAsync(tmux, "hello world");
        await tmux.PressAsync("Enter");
        Assert.That(await NextChatFromAsync(bob, "alice"), Is.EqualTo("hello world"));

        // Up recalls it; Ctrl+U empties the line; Tab completes a nickname at the start of the line.
        await tmux.PressAsync("Up");
        await InputLineAsync(tmux, "hello world");
        await tmux.PressAsync("C-u");
        await InputLineAsync(tmux, "");
        await tmux.TypeAsync("b");
        await tmux.PressAsync("Tab");
        await InputLineAsync(tmux, "bob: ");
        await tmux.TypeAsync("hi there");
        await tmux.PressAsync("C-w");
        await InputLineAsync(tmux, "bob: hi ");
        await tmux.TypeAsync("you");
        await tmux.PressAsync("Enter");
        Assert.That(await NextChatFromAsync(bob, "alice"), Is.EqualTo("bob: hi you"));

        // Home, Delete, End, Backspace.
        await tmux.TypeAsync("xabcz");
        await tmux.PressAsync("Home", "DC", "End", "BSpace");
        await InputLineAsync(tmux, "abc");
        await tmux.PressAsync("Enter");
        Assert.That(await NextChatFromAsync(bob, "alice"), Is.EqualTo("abc"));

        // Commands complete too, and are never sent as chat: bob's next chat from alice is the //line.
        await tmux.TypeAsync("/he");
        await tmux.PressAsync("Tab");
        await InputLineAsync(tmux, "/help ");
        await tmux.PressAsync("Enter");
        await tmux.WaitForTextAsync("*** /join ROOM");
        await tmux.TypeAsync("/nosuch");
        await tmux.PressAsync("Enter");
        await tmux.WaitForTextAsync("!!! unknown command /nosuch");
        await tmux.TypeAsync("//slash");
        await tmux.PressAsync("Enter");
        Assert.That(await NextChatFromAsync(bob, "alice"), Is.EqualTo("/slash"));
    }

    [TestCase("/quit")]
    [TestCase("C-d")]
    [TestCase("C-c")]
    [TestCase("SIGTERM")]
    public async Task Every_way_out_says_leaving_chat_exits_0_and_restores_the_terminal(string how)
    {
        await using var broker = await TestBroker.StartAsync();
        await using var tmux = await StartClientAsync(broker, "alice");
        await using var bob = await RawClient.JoinAsync(broker.LocalEndPoint, "bob");
        await bob.ExpectAsync<RosterMessage>();
        await tmux.WaitForTextAsync("*** bob joined the chat");

        switch (how)
        {
            case "/quit":
                await tmux.TypeAsync("/quit");
                await tmux.PressAsync("Enter");
                break;
            case "SIGTERM":
                await tmux.SignalClientAsync("TERM");
                break;
            default:
                await tmux.PressAsync(how);
                break;
        }

        var screen = await tmux.WaitForTextAsync("terminal ");
        Assert.That(screen.Where(r => r.Length > 0).ToList(), Is.EqualTo(new[] { "*** leaving chat", "exit status 0", "terminal icanon" }), TmuxSession.Show(screen));
        Assert.That(await bob.ExpectAsync<UserLeftMessage>(), Is.EqualTo(new UserLeftMessage("alice")));
    }

    [Test]
    public async Task When_the_broker_goes_the_terminal_is_restored_and_the_reason_printed()
    {
        await using var broker = await TestBroker.StartAsync();
        await using var tmux = await StartClientAsync(broker, "alice", "--no-reconnect");
        await tmux.TypeAsync("half a line");
        await InputLineAsync(tmux, "half a line");

        await broker.StopAsync();

        var screen = await tmux.WaitForTextAsync("terminal ");
        Assert.That(
            screen.Where(r => r.Length > 0).ToList(),
            Is.EqualTo(new[] { "!!! broker shutting down", "*** server closed the connection", "exit status 0", "terminal icanon" }),
            TmuxSession.Show(screen));
    }

    [Test]
    public async Task Hostile_text_is_neutralised_on_the_screen_and_mentions_are_kept_whole()
    {
        await using var broker = await TestBroker.StartAsync();
        await using var tmux = await StartClientAsync(broker, "alice");
        await using var eve = await RawClient.JoinAsync(broker.LocalEndPoint, "eve");
        await eve.ExpectAsync<RosterMessage>();

        await eve.SendChatAsync("alice: \u001b[2J\u001b[31mred\u202e\u0007 bell");

        var screen = await tmux.WaitForTextAsync(@"\x1b[2J");
        Assert.That(screen.Single(r => r.Contains("<eve>", StringComparison.Ordinal)), Does.Match(Stamped(@"<eve> alice: \x1b[2J\x1b[31mred\u202e\x07 bell")));
        Assert.That(screen[^1], Is.EqualTo(Prompt.TrimEnd()));
    }

    [Test]
    public async Task The_status_line_shows_the_current_room_and_the_unread_chats_of_another()
    {
        await using var broker = await TestBroker.StartAsync();
        await using var bob = await ChatClient.ConnectAsync(broker.LocalEndPoint, "bob", ChatClientOptions.Default with { Capabilities = ChatCapabilities.All });
        await using var dev = await bob.JoinAsync("dev");
        await dev.SendAsync("before you came");
        await using var tmux = await StartClientAsync(broker, "alice");

        await tmux.TypeAsync("/join dev");
        await tmux.PressAsync("Enter");
        await tmux.WaitForTextAsync("(history) <bob> before you came");
        await StatusAsync(tmux, "[alice] [dev] lobby  connected");
        await tmux.TypeAsync("/switch lobby");
        await tmux.PressAsync("Enter");
        await StatusAsync(tmux, "[alice] [lobby] dev  connected");

        for (var i = 1; i <= 3; i++)
        {
            await dev.SendAsync($"dev news {i}");
        }

        var screen = await StatusAsync(tmux, "[alice] [lobby] dev(3)  connected");
        Assert.That(screen.Where(r => r.Contains("<bob>", StringComparison.Ordinal)).Skip(1).ToList(), Has.Count.EqualTo(3).And.All.Match(@"^\d\d:\d\d \[dev\] <bob> dev news \d$"), TmuxSession.Show(screen));

        // Switching there reads them; a plain line then goes to dev.
        await tmux.TypeAsync("/switch dev");
        await tmux.PressAsync("Enter");
        await StatusAsync(tmux, "[alice] [dev] lobby  connected");
        await tmux.TypeAsync("hi dev");
        await tmux.PressAsync("Enter");
        using var timeout = new CancellationTokenSource(TmuxSession.Deadline);
        await foreach (var chat in dev.ReadMessagesAsync(timeout.Token))
        {
            if (chat.Nickname == "alice")
            {
                Assert.That(chat.Text, Is.EqualTo("hi dev"));
                break;
            }
        }

        await tmux.WaitForTextAsync("<alice> hi dev");
    }

    private static Task<IReadOnlyList<string>> StatusAsync(TmuxSession tmux, string status) =>
        tmux.WaitForScreenAsync(s => s.Count >= 2 && s[^2].TrimEnd() == status, $"the status line '{status}'");

    private static async Task<TmuxSession> StartClientAsync(ChatBroker broker, string nickname, params string[] options)
    {
        var tmux = await TmuxSession.StartCliAsync(["client", "--nickname", nickname, "--server", broker.LocalEndPoint.ToString(), .. options]);
        await tmux.WaitForScreenAsync(s => s.Any(r => r.EndsWith($"*** connected as {nickname}", StringComparison.Ordinal)) && s[^1] == Prompt.TrimEnd(), "the connected screen");
        return tmux;
    }

    private static Task<IReadOnlyList<string>> InputLineAsync(TmuxSession tmux, string text) =>
        tmux.WaitForScreenAsync(s => s[^1] == (Prompt + text).TrimEnd(), $"the input line '{text}'");

    private static async Task<string> NextChatFromAsync(RawClient client, string nickname)
    {
        while (true)
        {
            if (await client.ReceiveAsync() is ChatBroadcastMessage chat && chat.Nickname == nickname)
            {
                return chat.Text;
            }
        }
    }

    // A log row: the HH:mm timestamp, then exactly the line.
    private static Regex Stamped(string line) => new($@"^\d\d:\d\d {Regex.Escape(line)}$", RegexOptions.CultureInvariant);
}
