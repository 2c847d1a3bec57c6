using LocalChatMesh.Tests.Support;

namespace LocalChatMesh.Tests.EndToEnd;

/// <summary>The built broker and two terminal clients, each its own process, as a person would run them.</summary>
public class TwoClientsTests
{
    [Test]
    public async Task Alice_and_bob_chat_and_leave_through_the_real_binaries()
    {
        await using var broker = CliProcess.Start("broker", "--listen", "127.0.0.1:0");
        var server = (await broker.WaitForBrokerAddressAsync()).ToString();

        await using var alice = CliProcess.Start("client", "--nickname", "alice", "--server", server);
        await alice.WaitForOutputLineAsync("*** connected as alice");

        await using var bob = CliProcess.Start("client", "--nickname", "bob", "--server", server);
        await bob.WaitForOutputLineAsync("*** connected as bob");
        await bob.WaitForOutputLineAsync("*** currently online: alice");
        await alice.WaitForOutputLineAsync("*** bob joined the chat");

        await alice.WriteLineAsync("Hello from Alice");
        await alice.WaitForOutputLineAsync("<alice> Hello from Alice");
        await bob.WaitForOutputLineAsync("<alice> Hello from Alice");

        await bob.WriteLineAsync("Hi Alice, Bob here");
        await bob.WaitForOutputLineAsync("<bob> Hi Alice, Bob here");
        await alice.WaitForOutputLineAsync("<bob> Hi Alice, Bob here");

        await alice.WriteLineAsync("/quit");
        await alice.WaitForOutputLineAsync("*** leaving chat");
        Assert.That(await alice.WaitForExitAsync(), Is.EqualTo(0), alice.Transcript());
        await bob.WaitForOutputLineAsync("*** alice left the chat");

        await bob.WriteLineAsync("/quit");
        Assert.That(await bob.WaitForExitAsync(), Is.EqualTo(0), bob.Transcript());

        await broker.SignalAsync("TERM");
        Assert.That(await broker.WaitForExitAsync(), Is.EqualTo(0), broker.Transcript());
    }

    [Test]
    public async Task A_taken_nickname_exits_non_zero_with_the_brokers_reason()
    {
        await using var broker = await TestBroker.StartAsync();
        await using var alice = CliProcess.Start("client", "--nickname", "alice", "--server", broker.LocalEndPoint.ToString());
        await alice.WaitForOutputLineAsync("*** connected as alice");

        await using var impostor = CliProcess.Start("client", "--nickname", "Alice", "--server", broker.LocalEndPoint.ToString());
        await impostor.WaitForErrorLineAsync(line => line == "!!! nickname 'Alice' is already in use", "the refusal");
        Assert.That(await impostor.WaitForExitAsync(), Is.Not.EqualTo(0));
    }

    [Test]
    public async Task Stopping_the_broker_makes_a_client_print_the_notice_and_exit_by_itself()
    {
        await using var broker = await TestBroker.StartAsync();
        // Against a version 2 broker the client would come back by itself (ClientVersion2Tests).
        await using var alice = CliProcess.Start("client", "--nickname", "alice", "--server", broker.LocalEndPoint.ToString(), "--no-reconnect");
        await alice.WaitForOutputLineAsync("*** connected as alice");

        await broker.StopAsync();

        await alice.WaitForErrorLineAsync(line => line == "!!! broker shutting down", "the shutdown notice");
        await alice.WaitForOutputLineAsync("*** server closed the connection");
        Assert.That(await alice.WaitForExitAsync(), Is.EqualTo(0), alice.Transcript());
    }
}
