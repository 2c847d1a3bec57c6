using System.Diagnostics;
using System.Globalization;
using System.Text;
using LocalChatMesh.Storage;
using LocalChatMesh.Storage.Sqlite;

namespace LocalChatMesh.Tests.Storage;

/// <summary>A writer killed with SIGKILL loses nothing whose append had completed.</summary>
public class SqliteChatStoreCrashTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    [Test]
    public async Task Everything_committed_before_a_SIGKILL_is_there_after_it()
    {
        using var directory = new StoreDirectory();
        var path = directory.File();
        long committed = 0;
        var opened = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var enoughWritten = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var gate = new Lock();
        var error = new StringBuilder();

        using var writer = new Process { StartInfo = WriterStart(path) };
        writer.OutputDataReceived += (_, e) =>
        {
            if (e.Data == "opened")
            {
                opened.TrySetResult();
            }
            else if (e.Data?.StartsWith("committed ", StringComparison.Ordinal) == true)
            {
                var id = long.Parse(e.Data["committed ".Length..], CultureInfo.InvariantCulture);
                lock (gate)
                {
                    committed = Math.Max(committed, id);
                }

                if (id >= 30_000)
                {
                    enoughWritten.TrySetResult();
                }
            }
        };
        writer.ErrorDataReceived += (_, e) =>
        {
            lock (gate)
            {
                error.AppendLine(e.Data);
            }
        };
        writer.Start();
        writer.BeginOutputReadLine();
        writer.BeginErrorReadLine();
        try
        {
            await opened.Task.WaitAsync(Deadline);

            // Another broker's process holds the file: this one is refused while the writer runs.
            await using (var second = new SqliteChatStore(path))
            {
                Assert.That(() => second.OpenAsync(StoreCrashWriter.KeepAll),
                    Throws.TypeOf<ChatStoreException>().With.Message.Contains("is in use by another process"));
            }

            await enoughWritten.Task.WaitAsync(Deadline);
        }
        catch (TimeoutException)
        {
            Assert.Fail($"the writer did not get going within {Deadline.TotalSeconds} s; its standard error: {error}");
        }
        finally
        {
            // Process.Kill is SIGKILL on Linux: no finalizers, no DisposeAsync, no checkpoint.
            if (!writer.HasExited)
            {
                writer.Kill();
            }

            await writer.WaitForExitAsync();
        }

        Assert.That(writer.ExitCode, Is.EqualTo(128 + 9), "killed by SIGKILL");
        long completed;
        lock (gate)
        {
            completed = committed;
        }

        await using var store = new SqliteChatStore(path);
        var snapshot = await store.OpenAsync(StoreCrashWriter.KeepAll);

        Assert.That(completed, Is.GreaterThanOrEqualTo(30_000));
        Assert.That(snapshot.LastId, Is.GreaterThanOrEqualTo(completed));
        Assert.That(snapshot.LastId % StoreCrashWriter.BatchSize, Is.Zero, "a batch is stored whole or not at all");
        Assert.That(snapshot.Messages, Has.Count.EqualTo(snapshot.LastId));
        for (var i = 0; i < snapshot.Messages.Count; i++)
        {
            if (snapshot.Messages[i] != StoreCrashWriter.Message(i + 1))
            {
                Assert.Fail($"message {i + 1} came back as {snapshot.Messages[i]}");
            }
        }
    }

    private static ProcessStartInfo WriterStart(string path)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = AppContext.BaseDirectory,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "LocalChatMesh.Tests.dll"));
        start.ArgumentList.Add("store-writer");
        start.ArgumentList.Add(path);
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        return start;
    }
}
