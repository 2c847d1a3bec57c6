using System.Diagnostics;
using System.Text;
using System.Text.Json;
using LocalChatMesh.Protocol;

namespace LocalChatMesh.Tests.Protocol;

/// <summary>
/// What two steps every chat takes in the broker cost on their own, in one process on a warm
/// cache: reading the line (a validating <see cref="Utf8JsonReader"/> pass, the general path's
/// core, beside <see cref="MessageDecoder"/>, which reads the bench's lines by their shape) and
/// building the frame the recipients get (<see cref="ChatFrame"/>). BENCHMARKS.md, "Per chat and
/// per delivery", sets them against the per-chat budget of issue 10's 20-room target. Floors,
/// not what the running broker sees. Explicit: it measures and prints, it asserts no time. Run
/// it in Release:
/// <c>dotnet test LocalChatMesh.Tests -c Release --filter FullyQualifiedName~ChatStepMeasurements --logger "console;verbosity=detailed"</c>
/// </summary>
[Explicit("a measurement: prints figures, asserts nothing about time")]
public sealed class ChatStepMeasurements
{
    private const int Runs = 2_000_000;
    private const string Text = "00012.000000123.0000001234567890123xxxxxxxxxxxxxxxxxxxxxxxxxxxxx";

    // The lines `chatmesh bench` sends (64 bytes of text): a v1 chat and a v2 chat with its room.
    private static readonly byte[] Version1 = Encoding.UTF8.GetBytes($"{{\"type\":\"chat\",\"text\":\"{Text}\"}}");
    private static readonly byte[] Version2 = Encoding.UTF8.GetBytes($"{{\"type\":\"chat\",\"text\":\"{Text}\",\"room\":\"bench-7\"}}");

    [TestCase("v1")]
    [TestCase("v2")]
    public void Nanoseconds_per_chat(string version)
    {
        var v2 = version == "v2";
        var line = v2 ? Version2 : Version1;
        Assert.That(MessageDecoder.TryDecodeClientMessage(line, out var decoded, out _), Is.True);
        var text = ((ChatMessage)decoded!).Utf8Text;
        var time = DateTimeOffset.UtcNow;

        var tokens = 0L;
        var reader = Best(() =>
        {
            var json = new Utf8JsonReader(line);
            while (json.Read())
            {
                tokens++;
            }
        });
        var decodes = 0L;
        var decoder = Best(() => decodes += MessageDecoder.TryDecodeClientMessage(line, out _, out _) ? 1 : 0);
        var bytes = 0L;
        var frame = Best(() => bytes += (v2
            ? ChatFrame.TryBuild("b12", text, "bench-7", 123_456, time, null)
            : ChatFrame.TryBuild("b12", text, null, null, null, null))!.Length);

        Assert.That(tokens, Is.GreaterThan(0));
        Assert.That(decodes, Is.GreaterThan(0));
        Assert.That(bytes, Is.GreaterThan(0));
        TestContext.Out.WriteLine(
            $"{version} chat, line {line.Length} bytes: Utf8JsonReader pass {reader:F0} ns, MessageDecoder {decoder:F0} ns; " +
            $"frame {bytes / (6L * Runs)} bytes: ChatFrame {frame:F0} ns (best of 5 runs of {Runs:N0})");
    }

    // The fastest of five timed runs, after a warm-up run that lets tiered compilation settle.
    private static double Best(Action step)
    {
        for (var i = 0; i < Runs; i++)
        {
            step();
        }

        var best = double.MaxValue;
        for (var run = 0; run < 5; run++)
        {
            var watch = Stopwatch.StartNew();
            for (var i = 0; i < Runs; i++)
            {
                step();
            }

            best = Math.Min(best, watch.Elapsed.TotalNanoseconds / Runs);
        }

        return best;
    }
}
