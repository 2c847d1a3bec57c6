using System.Buffers;
using System.Globalization;
using System.Text;
using LocalChatMesh.Protocol;
using LocalChatMesh.Tests.Support;

namespace LocalChatMesh.Tests.Protocol;

/// <summary>
/// A seeded fuzz of the framer and the decoder. The normal suite runs a few thousand inputs;
/// set CHATMESH_FUZZ_INPUTS (e.g. 1000000) for a long run. A failure prints its seed and input.
/// </summary>
public class CodecFuzzTests
{
    private const int MaxLine = 256;
    private const int MaxChunk = 64;

    private static readonly string[] Seeds =
    [
        """{"type":"hello","nickname":"alice"}""",
        """{"type":"chat","text":"hello world"}""",
        """{"type":"hello","nickname":"bob","token":"t"}""",
        """{"type":"roster","participants":["bob","carol"]}""",
        """{"type":"chat","nickname":"alice","text":"hi"}""",
        """{"type":"welcome","nickname":"alice"}""",
        """{"type":"error","message":"nickname 'alice' is already in use"}""",
        """{"type":"user_joined","nickname":"dave"}""",
        """{"text":"ü 🙂 \u001b[2J","type":"chat","x":[1,{"y":null}]}""",
    ];

    private static readonly string[] Fragments =
    [
        "{", "}", "[", "]", "\"", ":", ",", "\\", "\\u", "\\ud83d", "null", "true", "1e999", "-0", "\"type\"", "\"chat\"",
        "\"hello\"", "\"text\"", "\"nickname\"", "\r", "\n", "\r\n", " ", "\t", "\u0000", "é", "🙂", "\u202e",
    ];

    private static int Inputs =>
        int.TryParse(Environment.GetEnvironmentVariable("CHATMESH_FUZZ_INPUTS"), NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0 ? n : 5000;

    [Test]
    public void Framer_and_decoder_survive_generated_input_with_bounded_buffering()
    {
        const int seed = 20261125;
        var random = new Random(seed);
        var stats = new FuzzStats();
        for (var i = 0; i < Inputs; i++)
        {
            var input = Generate(random);
            var chunks = Chunk(input, random);
            try
            {
                Check(input, chunks, stats);
            }
            catch (Exception exception) when (exception is not OutOfMemoryException)
            {
                Assert.Fail($"input {i} of seed {seed} failed: {exception.Message}\ninput (base64): {Convert.ToBase64String(input)}");
            }
        }

        TestContext.Out.WriteLine($"{Inputs} inputs: {stats.Lines} lines, {stats.Decoded} decoded, {stats.Refused} refused by the decoder, {stats.TooLong} too long");
        Assert.That(stats.Decoded, Is.GreaterThan(0), "the generator must also produce valid messages");
        Assert.That(stats.Refused, Is.GreaterThan(0), "and invalid ones");
        Assert.That(stats.TooLong, Is.GreaterThan(0), "and over-long lines");
    }

    private static void Check(byte[] input, List<ReadOnlyMemory<byte>> chunks, FuzzStats stats)
    {
        var (expectedLines, expectTooLong) = ReferenceSplit(input);
        var lines = new List<byte[]>();
        var received = new List<ReadOnlyMemory<byte>>();
        var tooLong = false;
        foreach (var chunk in chunks)
        {
            received.Add(chunk);
            var buffer = ChunkedSequence.Create(received);
            FrameStatus status;
            while ((status = LineFramer.TryReadLine(ref buffer, MaxLine, out var line)) == FrameStatus.Line)
            {
                Assert.That(line.Length, Is.LessThanOrEqualTo(MaxLine));
                if (!LineFramer.IsBlank(line))
                {
                    lines.Add(line.ToArray());
                }
            }

            if (status == FrameStatus.TooLong)
            {
                tooLong = true;
                break;
            }

            // What stays buffered is at most one maximal line plus its terminator and one read.
            Assert.That(buffer.Length, Is.LessThanOrEqualTo(MaxLine + 1), "the framer kept more than a line's worth");
            received = [.. Segments(buffer)];
        }

        Assert.That(tooLong, Is.EqualTo(expectTooLong), "too-long detection disagrees with the reference");
        Assert.That(lines.Select(Encoding.Latin1.GetString), Is.EqualTo(expectedLines.Select(Encoding.Latin1.GetString)), "framing depends on chunking");
        stats.TooLong += tooLong ? 1 : 0;

        foreach (var line in lines)
        {
            stats.Lines++;
            DecodeClient(line, stats);
            DecodeServer(line);
        }
    }

    private static void DecodeClient(byte[] line, FuzzStats stats)
    {
        if (MessageDecoder.TryDecodeClientMessage(line, out var message, out var error))
        {
            Assert.That(error, Is.Null);
            stats.Decoded++;
            var again = MessageEncoder.Encode(message);
            Assert.That(MessageDecoder.TryDecodeClientMessage(again.AsSpan(0, again.Length - 1), out var reparsed, out _), Is.True);
            Assert.That(reparsed, Is.EqualTo(message), "re-encoding changed the message");
        }
        else
        {
            Assert.That(message, Is.Null);
            Assert.That(error, Is.Not.Empty);
            stats.Refused++;
        }
    }

    private static void DecodeServer(byte[] line)
    {
        if (MessageDecoder.TryDecodeServerMessage(line, out var message, out var error))
        {
            var again = MessageEncoder.Encode(message);
            Assert.That(MessageDecoder.TryDecodeServerMessage(again.AsSpan(0, again.Length - 1), out var reparsed, out _), Is.True);
            Assert.That(reparsed, Is.EqualTo(message));
        }
        else
        {
            Assert.That(error, Is.Not.Empty);
        }
    }

    // The framing rules, stated simply: split on \n, drop one trailing \r, skip blank lines,
    // stop at the first line over the limit or at a final unterminated line over the limit.
    private static (List<byte[]> Lines, bool TooLong) ReferenceSplit(byte[] input)
    {
        var lines = new List<byte[]>();
        var start = 0;
        while (true)
        {
            var newline = Array.IndexOf(input, (byte)'\n', start);
            if (newline < 0)
            {
                return (lines, input.Length - start > MaxLine + 1);
            }

            var line = input[start..newline];
            if (line.Length > 0 && line[^1] == '\r')
            {
                line = line[..^1];
            }

            if (line.Length > MaxLine)
            {
                return (lines, true);
            }

            if (line.AsSpan().IndexOfAnyExcept((byte)' ', (byte)'\t') >= 0)
            {
                lines.Add(line);
            }

            start = newline + 1;
        }
    }

    private static byte[] Generate(Random random)
    {
        var text = new StringBuilder();
        var messages = random.Next(1, 5);
        for (var m = 0; m < messages; m++)
        {
            text.Append(random.Next(6) switch
            {
                0 => Fragments[random.Next(Fragments.Length)] + Seeds[random.Next(Seeds.Length)],
                1 => new string('x', random.Next(MaxLine - 20, MaxLine + 20)),
                2 => string.Concat(Enumerable.Range(0, random.Next(1, 12)).Select(_ => Fragments[random.Next(Fragments.Length)])),
                3 => "{\"type\":\"chat\",\"text\":\"" + new string('[', random.Next(0, 40)) + "\",\"a\":" + new string('[', random.Next(0, 70)) + new string(']', random.Next(0, 70)) + "}",
                _ => Seeds[random.Next(Seeds.Length)],
            });
            text.Append(random.Next(4) == 0 ? "\r\n" : "\n");
        }

        var bytes = Encoding.UTF8.GetBytes(text.ToString());
        var mutations = random.Next(0, 4);
        for (var i = 0; i < mutations && bytes.Length > 0; i++)
        {
            var at = random.Next(bytes.Length);
            switch (random.Next(4))
            {
                case 0:
                    bytes[at] = (byte)random.Next(256);
                    break;
                case 1:
                    bytes[at] ^= (byte)(1 << random.Next(8));
                    break;
                case 2:
                    bytes = [.. bytes[..at], .. bytes[(at + 1)..]];
                    break;
                default:
                    bytes = [.. bytes[..at], (byte)random.Next(0x80, 0x100), .. bytes[at..]];
                    break;
            }
        }

        return bytes;
    }

    private static List<ReadOnlyMemory<byte>> Chunk(byte[] input, Random random)
    {
        var chunks = new List<ReadOnlyMemory<byte>>();
        for (var at = 0; at < input.Length;)
        {
            var size = Math.Min(input.Length - at, random.Next(1, MaxChunk + 1));
            chunks.Add(input.AsMemory(at, size));
            at += size;
        }

        return chunks;
    }

    private static IEnumerable<ReadOnlyMemory<byte>> Segments(ReadOnlySequence<byte> buffer)
    {
        foreach (var segment in buffer)
        {
            if (!segment.IsEmpty)
            {
                yield return segment;
            }
        }
    }

    private sealed class FuzzStats
    {
        public long Lines { get; set; }

        public long Decoded { get; set; }

        public long Refused { get; set; }

        public long TooLong { get; set; }
    }
}
