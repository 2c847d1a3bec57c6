using System.Net;
using LocalChatMesh.Protocol;
using LocalChatMesh.Testing;
using LocalChatMesh.Tests.Support;

namespace LocalChatMesh.Tests.Hub;

public class AccessTests
{
    [Test]
    public void With_a_secret_a_hello_carrying_it_is_welcomed()
    {
        using var hub = new HubHarness(options => options with { Token = "s3cret" });
        var alice = hub.Connect();

        alice.Send(new HelloMessage("alice") { Token = "s3cret" });

        Assert.That(alice.Received, Is.EqualTo(new ServerMessage[] { new WelcomeMessage("alice") }));
    }

    [TestCase(null)]
    [TestCase("")]
    [TestCase("s3cre")]
    [TestCase("s3cret ")]
    [TestCase("S3CRET")]
    public void With_a_secret_any_other_hello_is_refused_with_a_generic_error(string? token)
    {
        using var hub = new HubHarness(options => options with { Token = "s3cret" });
        hub.Join("alice", "s3cret");
        var intruder = hub.Connect();

        intruder.Send(new HelloMessage("alice") { Token = token });

        Assert.That(intruder.Received, Is.EqualTo(new ServerMessage[] { new ErrorMessage("authentication failed") }), "the same answer whether or not the nickname is taken");
        Assert.That(intruder.ClosedGracefully, Is.True);
        Assert.That(hub.Events.OfType<ClientDisconnectedEvent>().Single().Reason, Is.EqualTo(DisconnectReason.AuthenticationFailed));
    }

    [Test]
    public void Without_a_secret_a_token_is_ignored()
    {
        using var hub = new HubHarness();
        var alice = hub.Connect();

        alice.Send(new HelloMessage("alice") { Token = "anything" });

        Assert.That(alice.Received, Is.EqualTo(new ServerMessage[] { new WelcomeMessage("alice") }));
    }

    [Test]
    public void Options_refuse_a_non_loopback_address_unless_allowed()
    {
        var anywhere = BrokerOptions.Default with { EndPoint = new IPEndPoint(IPAddress.Any, 0) };

        var error = Assert.Throws<ArgumentException>(anywhere.Validate);
        Assert.That(error!.Message, Does.StartWith("0.0.0.0 is not a loopback address"));
        Assert.DoesNotThrow((anywhere with { AllowNonLoopback = true }).Validate);
        Assert.DoesNotThrow((BrokerOptions.Default with { EndPoint = new IPEndPoint(IPAddress.IPv6Loopback, 0) }).Validate);
    }

    [Test]
    public void Options_name_the_setting_that_is_out_of_range()
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>((BrokerOptions.Default with { OutboundHardLimitBytes = 10 }).Validate);

        Assert.That(error!.ParamName, Is.EqualTo(nameof(BrokerOptions.OutboundHardLimitBytes)));
        Assert.That(error.Message, Does.StartWith("OutboundHardLimitBytes must be greater than OutboundSoftLimitBytes; it is 10."));
    }
}
