using LocalChatMesh.Protocol;

namespace LocalChatMesh.Tests.Support;

/// <summary>Drives a client that stopped reading into lagging, by chatting from another one.</summary>
internal static class LagDriver
{
    /// <summary>
    /// <paramref name="sender"/> chats (reading its own echoes, so it is never the slow one) until
    /// <paramref name="lagging"/> completes, then <paramref name="after"/> chats more, which the
    /// lagging client must miss; returns how many it sent. Chat <c>n</c>'s text is <c>text(n)</c>.
    /// </summary>
    public static async Task<int> ChatUntilLaggingAsync(RawClient sender, Task lagging, Func<int, string> text, int after = 100)
    {
        var sent = 0;
        var echoes = Task.Run(async () =>
        {
            var count = 0;
            while (!lagging.IsCompleted || count < Volatile.Read(ref sent))
            {
                await sender.ExpectAsync<ChatBroadcastMessage>();
                count++;
            }
        });
        var extra = 0;
        while (extra < after)
        {
            await sender.SendChatAsync(text(sent));
            Interlocked.Increment(ref sent);
            extra += lagging.IsCompleted ? 1 : 0;
            Assert.That(sent, Is.LessThan(100_000), "the client never lagged");
        }

        await echoes.WaitAsync(RawClient.Deadline);
        return sent;
    }
}
