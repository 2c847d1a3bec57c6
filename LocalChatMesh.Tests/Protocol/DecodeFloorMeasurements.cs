using System.Diagnostics;
using System.Text;
using System.Text.Json;
using LocalChatMesh.Protocol;

namespace LocalChatMesh.Tests.Protocol;

/// <summary>
/// The least a broker that answers bad JSON with an error must spend on each chat line before it
/// does anything else: one validating pass of <see cref="Utf8JsonReader"/> over the line. Printed
/// beside what <see cref="MessageDecoder"/> spends on the same line (BENCHMARKS.md, "Per chat and
/// per delivery"). In one process on a warm cache, so a floor, not what the broker sees. Explicit:
/// it measures and prints, it asserts no time. Run it in Release:
/// <c>dotnet test LocalChatMesh.Tests -c Release --filter FullyQualifiedName~DecodeFloorMeasurements --logger "console;verbosity=detailed"</c>
/// </summary>
[Explicit("a measurement: prints figures, asserts nothing about time")]
public sealed class DecodeFloorMeasurements
{
    private const int Lines = 2_000_000;

    // The lines `chatmesh bench` sends (64 bytes of text): a v1 chat and a v2 chat with its room.
    private static readonly byte[] Version1 = Encoding.UTF8.GetBytes("{\"type\":\"chat\",\"text\":\"00012.000000123.0000001234567890123xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}");
    private static readonly byte[] Version2 = Encoding.UTF8.GetBytes("{\"type\":\"chat\",\"text\":\"00012.000000123.0000001234567890123xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\",\"room\":\"bench-7\"}");

    [TestCase("v1")]
    [TestCase("v2")]
    public void Nanoseconds_per_chat_line(string version)
    {
        var line = version == "v1" ? Version1 : Version2;
        Assert.That(MessageDecoder.TryDecodeClientMessage(line, out var decoded, out _), Is.True);
        Assert.That(decoded, Is.InstanceOf<ChatMessage>());

        var tokens = 0L;
        var validation = Best(() =>
        {
            var reader = new Utf8JsonReader(line);
            while (reader.Read())
            {
                tokens++;
            }
        });
        var decodes = 0L;
        var decoder = Best(() =>
        {
            if (MessageDecoder.TryDecodeClientMessage(line, out _, out _))
            {
                decodes++;
            }
        });

        Assert.That(tokens, Is.GreaterThan(0));
        Assert.That(decodes, Is.GreaterThan(0));
        TestContext.Out.WriteLine($"{version} chat line, {line.Length} bytes: Utf8JsonReader pass {validation:F0} ns, MessageDecoder {decoder:F0} ns (best of 5 runs of {Lines:N0})");
    }

    // The fastest of five timed runs, after a warm-up run that lets tiered compilation settle.
    private static double Best(Action decode)
    {
        for (var i = 0; i < Lines; i++)
        {
            decode();
        }

        var best = double.MaxValue;
        for (var run = 0; run < 5; run++)
        {
            var watch = Stopwatch.StartNew();
            for (var i = 0; i < Lines; i++)
            {
                decode();
            }

            best = Math.Min(best, watch.Elapsed.TotalNanoseconds / Lines);
        }

        return best;
    }
}
