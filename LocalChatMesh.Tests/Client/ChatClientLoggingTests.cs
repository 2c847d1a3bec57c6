using LocalChatMesh.Tests.Support;
using Microsoft.Extensions.Logging;

namespace LocalChatMesh.Tests.Client;

public class ChatClientLoggingTests
{
    private static readonly TimeSpan Deadline = FakeBroker.Deadline;

    [Test]
    public async Task The_connection_and_a_clean_close_are_logged_with_the_reason()
    {
        using var broker = FakeBroker.Start();
        var logs = new RecordingLoggerFactory();
        var connecting = ChatClient.ConnectAsync(broker.EndPoint, "alice", new ChatClientOptions { LoggerFactory = logs });
        using var connection = await broker.AcceptAndWelcomeAsync();
        await using var client = await connecting.WaitAsync(Deadline);
        using var reading = client.Messages.Subscribe(_ => { });

        connection.Close();

        Assert.That(await client.Completion.WaitAsync(Deadline), Is.EqualTo(ChatClientCloseReason.ClosedByServer));
        Assert.That(logs.Entries, Is.EqualTo(new[]
        {
            new RecordingLoggerFactory.LogEntry("LocalChatMesh.Client", LogLevel.Information, $"connected to {broker.EndPoint} as alice", null),
            new RecordingLoggerFactory.LogEntry("LocalChatMesh.Client", LogLevel.Information, $"connection to {broker.EndPoint} closed: ClosedByServer", null),
        }));
    }

    [Test]
    public async Task A_failed_connection_is_logged_as_a_warning_with_the_exception()
    {
        using var broker = FakeBroker.Start();
        var logs = new RecordingLoggerFactory();
        var connecting = ChatClient.ConnectAsync(broker.EndPoint, "alice", new ChatClientOptions { LoggerFactory = logs });
        using var connection = await broker.AcceptAndWelcomeAsync();
        await using var client = await connecting.WaitAsync(Deadline);
        using var reading = client.Messages.Subscribe(_ => { }, _ => { });

        await connection.SendLineAsync("not json");

        Assert.That(await client.Completion.WaitAsync(Deadline), Is.EqualTo(ChatClientCloseReason.TransportFailure));
        var failure = logs.Entries[^1];
        Assert.That(failure.Level, Is.EqualTo(LogLevel.Warning));
        Assert.That(failure.Message, Is.EqualTo($"connection to {broker.EndPoint} failed"));
        Assert.That(failure.Exception, Is.InstanceOf<ChatConnectionException>().With.Message.Contains("invalid JSON"));
    }

    [Test]
    public void The_logger_factory_cannot_be_null()
    {
        Assert.That(() => new ChatClientOptions { LoggerFactory = null! }, Throws.ArgumentNullException);
    }
}
