using LocalChatMesh.Protocol;
using LocalChatMesh.Tests.Support;

namespace LocalChatMesh.Tests.Hub.V2;

public class SessionTests
{
    [Test]
    public void A_hello_with_the_session_takes_the_nickname_over_at_once()
    {
        using var hub = new HubHarness();
        var old = hub.JoinV2("alice");
        old.JoinRoom("dev");
        var bob = hub.JoinV2("bob");
        bob.JoinRoom("dev");
        var session = old.Welcome().Session;
        bob.TakeReceived();

        var fresh = hub.JoinV2("ALICE", session: session);

        Assert.That(old.Received[^1], Is.EqualTo(new ErrorMessage("connection replaced")));
        Assert.That(old.IsClosed, Is.True);
        Assert.That(bob.Received, Is.EqualTo(new ServerMessage[] { new UserLeftMessage("alice") { Room = "dev" } }));
        Assert.That(fresh.Welcome().Nickname, Is.EqualTo("ALICE"));
        Assert.That(fresh.Welcome().Session, Is.EqualTo(session), "the reservation, and its secret, carry on");
        Assert.That(fresh.Received, Has.Count.EqualTo(1), "a fresh connection: it joins its rooms again itself");
        Assert.That(hub.Events.OfType<ClientDisconnectedEvent>().Single().Reason, Is.EqualTo(DisconnectReason.Replaced));
        Assert.That(hub.Broker.Participants, Is.EqualTo(new[] { "bob", "ALICE" }));
    }

    [Test]
    public void A_wrong_session_is_ignored_and_the_usual_rules_apply()
    {
        using var hub = new HubHarness();
        var alice = hub.JoinV2("alice");

        var impostor = hub.Connect();
        impostor.Send(new HelloMessage("alice") { Capabilities = ChatCapabilities.All, Session = "not-the-secret" });

        Assert.That(impostor.Received, Is.EqualTo(new ServerMessage[] { new ErrorMessage("nickname 'alice' is already in use") }));
        Assert.That(impostor.IsClosed, Is.True);
        Assert.That(alice.IsOpen(), Is.True);
    }

    [Test]
    public void A_session_for_a_free_nickname_is_ignored_and_a_new_one_is_issued()
    {
        using var hub = new HubHarness();
        var alice = hub.JoinV2("alice");
        var session = alice.Welcome().Session;
        alice.Close();

        var again = hub.JoinV2("alice", session: session);

        Assert.That(again.Welcome().Session, Is.Not.EqualTo(session));
    }

    [Test]
    public void A_session_of_one_nickname_does_not_take_another()
    {
        using var hub = new HubHarness();
        var alice = hub.JoinV2("alice");
        var bob = hub.JoinV2("bob");

        var thief = hub.Connect();
        thief.Send(new HelloMessage("bob") { Capabilities = ChatCapabilities.All, Session = alice.Welcome().Session });

        Assert.That(thief.IsClosed, Is.True);
        Assert.That(bob.IsOpen(), Is.True);
    }

    [Test]
    public void A_version_1_reservation_has_no_session_to_take_over()
    {
        using var hub = new HubHarness();
        var victor = hub.Join("victor");

        var other = hub.Connect();
        other.Send(new HelloMessage("victor") { Capabilities = ChatCapabilities.All, Session = "" });

        Assert.That(other.IsClosed, Is.True);
        Assert.That(victor.IsOpen(), Is.True);
    }
}
