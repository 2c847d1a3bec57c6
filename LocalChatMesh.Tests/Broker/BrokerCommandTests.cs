using System.Diagnostics;
using System.Globalization;
using System.Net;
using LocalChatMesh.Protocol;
using LocalChatMesh.Tests.Support;

namespace LocalChatMesh.Tests.Broker;

/// <summary>The <c>broker</c> command run as a real process, as a script would run it.</summary>
public class BrokerCommandTests
{
    [Test]
    public async Task Sigterm_tells_clients_the_broker_is_shutting_down_and_exits_zero()
    {
        using var process = StartChatmesh("broker", "--listen", "127.0.0.1:0");
        try
        {
            var banner = await process.StandardOutput.ReadLineAsync().WaitAsync(RawClient.Deadline);
            var match = CliProcess.BrokerBanner().Match(banner ?? "");
            Assert.That(match.Success, Is.True, $"first line of standard output: {banner}");
            var endPoint = IPEndPoint.Parse(match.Groups[1].Value);
            var stderr = process.StandardError.ReadToEndAsync();

            await using var alice = await RawClient.JoinAsync(endPoint, "alice");
            await alice.SendChatAsync("hello");
            await alice.ExpectChatAsync("alice", "hello");

            using (var kill = Process.Start("kill", ["-TERM", process.Id.ToString(CultureInfo.InvariantCulture)]))
            {
                await kill.WaitForExitAsync().WaitAsync(RawClient.Deadline);
            }

            var heard = await alice.WaitForClosedAsync();
            await alice.DisposeAsync();
            Assert.That(heard, Is.EqualTo(new[] { new ErrorMessage("broker shutting down") }));
            await process.WaitForExitAsync().WaitAsync(RawClient.Deadline);
            Assert.That(process.ExitCode, Is.Zero, await stderr);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill();
            }
        }
    }

    [TestCase("nonsense")]
    [TestCase("127.0.0.1:99999")]
    [TestCase("example.com:5000")]
    public async Task A_bad_listen_address_exits_non_zero_with_a_one_line_error(string listen)
    {
        using var process = StartChatmesh("broker", "--listen", listen);
        try
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync().WaitAsync(RawClient.Deadline);

            Assert.That(process.ExitCode, Is.Not.Zero);
            Assert.That(await stdout, Is.Empty);
            var lines = (await stderr).Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.That(lines, Has.Length.EqualTo(1), await stderr);
            Assert.That(lines[0], Does.StartWith("error: --listen:"));
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill();
            }
        }
    }

    private static Process StartChatmesh(params string[] arguments)
    {
        var info = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "chatmesh.dll"));
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        return Process.Start(info) ?? throw new InvalidOperationException("could not start chatmesh");
    }
}
