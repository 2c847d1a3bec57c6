using System.Net;

namespace LocalChatMesh.Tests;

public class ChatEndPointTests
{
    [TestCase("127.0.0.1:5000", "127.0.0.1", 5000)]
    [TestCase(" 127.0.0.1:0 ", "127.0.0.1", 0)]
    [TestCase("localhost:6000", "127.0.0.1", 6000)]
    [TestCase("LOCALHOST:1", "127.0.0.1", 1)]
    [TestCase("[::1]:5000", "::1", 5000)]
    [TestCase("0.0.0.0:65535", "0.0.0.0", 65535)]
    public void Parses_good_addresses(string text, string address, int port)
    {
        Assert.That(ChatEndPoint.TryParse(text, out var endPoint, out var error), Is.True, error);
        Assert.That(endPoint, Is.EqualTo(new IPEndPoint(IPAddress.Parse(address), port)));
        Assert.That(ChatEndPoint.Parse(text), Is.EqualTo(endPoint));
    }

    [TestCase(null, "'' is not an address of the form HOST:PORT, such as 127.0.0.1:5000")]
    [TestCase("", "'' is not an address of the form HOST:PORT, such as 127.0.0.1:5000")]
    [TestCase("127.0.0.1", "'127.0.0.1' is not an address of the form HOST:PORT, such as 127.0.0.1:5000")]
    [TestCase(":5000", "':5000' is not an address of the form HOST:PORT, such as 127.0.0.1:5000")]
    [TestCase("127.0.0.1:", "'127.0.0.1:' is not an address of the form HOST:PORT, such as 127.0.0.1:5000")]
    [TestCase("127.0.0.1:65536", "'65536' is not a port number from 0 to 65535")]
    [TestCase("127.0.0.1:-1", "'-1' is not a port number from 0 to 65535")]
    [TestCase("127.0.0.1:+80", "'+80' is not a port number from 0 to 65535")]
    [TestCase("127.0.0.1:http", "'http' is not a port number from 0 to 65535")]
    [TestCase("example.com:5000", "'example.com' is not an IP address (or localhost)")]
    [TestCase("300.1.1.1:5000", "'300.1.1.1' is not an IP address (or localhost)")]
    public void Refuses_bad_addresses_with_a_reason(string? text, string expected)
    {
        Assert.That(ChatEndPoint.TryParse(text, out var endPoint, out var error), Is.False);
        Assert.That(endPoint, Is.Null);
        Assert.That(error, Is.EqualTo(expected));
        if (text is not null)
        {
            Assert.That(() => ChatEndPoint.Parse(text), Throws.InstanceOf<FormatException>().With.Message.EqualTo(expected));
        }
    }

    [Test]
    public void The_default_is_loopback_port_5000()
    {
        Assert.That(ChatEndPoint.Default, Is.EqualTo(new IPEndPoint(IPAddress.Loopback, 5000)));
    }
}
