using System.Diagnostics;
using System.Net;
using LocalChatMesh.Protocol;
using LocalChatMesh.Tests.Support;

namespace LocalChatMesh.Tests.Transport;

/// <summary>
/// Figures for BENCHMARKS.md ("TLS"): what TLS costs the broker, plain and TLS runs alternating.
/// The broker is a <c>chatmesh broker</c> child process (CHATMESH_MEASURE_DLL picks its build; the
/// test's own Debug build otherwise), so its CPU is its own; the clients are ChatClients in this
/// process. Explicit: run by name; it prints, it does not assert on time.
/// </summary>
[Explicit("a measurement: prints figures, asserts nothing about time")]
public sealed class TlsMeasurements
{
    private const int Clients = 100;
    private const int Senders = 10;
    private const int Messages = 2000;

    [Test]
    public async Task Broker_CPU_per_million_deliveries_plain_and_TLS()
    {
        using var certificates = TestCertificates.Create();
        var dll = Environment.GetEnvironmentVariable("CHATMESH_MEASURE_DLL") ?? Path.Combine(AppContext.BaseDirectory, "chatmesh.dll");
        TestContext.Out.WriteLine($"broker: {dll}; {Clients} clients, {Senders} send {Messages} each, unpaced ({Clients * Senders * Messages} deliveries)");
        foreach (var tls in new[] { false, true, false, true, false, true })
        {
            await RunAsync(dll, certificates, tls);
        }
    }

    private static async Task RunAsync(string dll, TestCertificates certificates, bool tls)
    {
        var info = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(dll);
        foreach (var argument in new[] { "broker", "--listen", "127.0.0.1:0", "--log-level", "Warning" })
        {
            info.ArgumentList.Add(argument);
        }

        if (tls)
        {
            foreach (var argument in new[] { "--tls-cert", certificates.ServerCertificatePath, "--tls-key", certificates.ServerKeyPath })
            {
                info.ArgumentList.Add(argument);
            }
        }

        using var broker = Process.Start(info)!;
        var clients = new List<ChatClient>();
        try
        {
            var banner = await broker.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30));
            var endPoint = IPEndPoint.Parse(banner!.Split(' ')[^1]);
            var options = ChatClientOptions.Default with { Tls = tls ? certificates.ClientTls() : null };

            var cpuAtStart = Cpu(broker);
            var joining = Stopwatch.StartNew();
            for (var i = 0; i < Clients; i++)
            {
                clients.Add(await ChatClient.ConnectAsync(endPoint, $"c{i}", options));
            }

            var joined = joining.Elapsed;
            var expected = Senders * Messages;
            var receiving = clients.Select(client => client.ReadMessagesAsync().OfType<ChatBroadcastMessage>().Take(expected).CountAsync().AsTask()).ToArray();
            var cpuBefore = Cpu(broker);
            var clock = Stopwatch.StartNew();
            await Task.WhenAll(clients.Take(Senders).Select(async sender =>
            {
                for (var m = 0; m < Messages; m++)
                {
                    await sender.SendAsync($"message {m} from {sender.Nickname}, some text to make it 64 bytes or so");
                }
            }));
            var counts = await Task.WhenAll(receiving).WaitAsync(TimeSpan.FromMinutes(5));
            var seconds = clock.Elapsed.TotalSeconds;
            var cpu = Cpu(broker) - cpuBefore;
            var deliveries = counts.Sum();
            TestContext.Out.WriteLine(
                $"{(tls ? "TLS  " : "plain")}: {Clients} joined in {joined.TotalSeconds:0.00} s (broker CPU {(cpuBefore - cpuAtStart).TotalSeconds:0.00} s); " +
                $"{deliveries} deliveries in {seconds:0.00} s ({deliveries / seconds:0} /s); broker CPU {cpu.TotalSeconds:0.00} s, {cpu.TotalSeconds / deliveries * 1e6:0.00} s per million; load {File.ReadAllText("/proc/loadavg").Split(' ')[0]}");
        }
        finally
        {
            foreach (var client in clients)
            {
                await client.DisposeAsync();
            }

            broker.Kill();
            await broker.WaitForExitAsync();
        }
    }

    private static TimeSpan Cpu(Process process)
    {
        process.Refresh();
        return process.TotalProcessorTime;
    }
}
