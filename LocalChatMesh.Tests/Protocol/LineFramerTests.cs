using System.IO.Pipelines;
using System.Text;
using LocalChatMesh.Protocol;

namespace LocalChatMesh.Tests.Protocol;

public class LineFramerTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    [Test]
    public async Task Yields_many_lines_from_one_read()
    {
        var lines = await FrameAsync(["a\nbb\nccc\n"]);

        Assert.That(lines, Is.EqualTo(new[] { "a", "bb", "ccc" }));
    }

    [Test]
    public async Task Drops_a_trailing_carriage_return()
    {
        var lines = await FrameAsync(["one\r\ntwo\n", "three\r", "\n"]);

        Assert.That(lines, Is.EqualTo(new[] { "one", "two", "three" }));
    }

    [Test]
    public async Task Keeps_a_carriage_return_that_is_not_at_the_end()
    {
        var lines = await FrameAsync(["a\rb\n"]);

        Assert.That(lines, Is.EqualTo(new[] { "a\rb" }));
    }

    [Test]
    public async Task Skips_blank_lines()
    {
        var lines = await FrameAsync(["\n\r\n  \t \nx\n\n"]);

        Assert.That(lines, Is.EqualTo(new[] { "x" }));
    }

    [Test]
    public async Task Reassembles_a_message_split_byte_by_byte()
    {
        const string json = """{"type":"chat","text":"hello world"}""";
        var chunks = Encoding.UTF8.GetBytes(json + "\n" + json + "\r\n").Select(b => new[] { b }).ToArray();

        var lines = await FrameAsync(chunks);

        Assert.That(lines, Is.EqualTo(new[] { json, json }));
    }

    [Test]
    public async Task Reassembles_a_multibyte_character_split_across_reads()
    {
        var bytes = Encoding.UTF8.GetBytes("""{"type":"chat","text":"🙂é"}""" + "\n");
        var emoji = Array.IndexOf(bytes, (byte)0xF0);
        byte[][] chunks = [bytes[..(emoji + 1)], bytes[(emoji + 1)..(emoji + 3)], bytes[(emoji + 3)..(emoji + 5)], bytes[(emoji + 5)..]];

        var pipe = new Pipe();
        var framing = CollectAsync(pipe.Reader, LineFramer.DefaultMaxLineLength);
        foreach (var chunk in chunks)
        {
            await pipe.Writer.WriteAsync(chunk);
        }

        await pipe.Writer.CompleteAsync();
        var lines = await framing.WaitAsync(Deadline);

        Assert.That(lines, Has.Count.EqualTo(1));
        Assert.That(MessageDecoder.TryDecodeClientMessage(lines[0].Span, out var message, out _), Is.True);
        Assert.That(message, Is.EqualTo(new ChatMessage("🙂é")));
    }

    [Test]
    public async Task Drops_a_partial_line_at_the_end_of_the_stream()
    {
        var lines = await FrameAsync(["complete\nhalf a li"]);

        Assert.That(lines, Is.EqualTo(new[] { "complete" }));
    }

    [Test]
    public async Task Accepts_a_line_of_exactly_the_limit_with_either_terminator()
    {
        var line = new string('x', 16);

        var lines = await FrameAsync([line + "\n" + line + "\r\n"], maxLineLength: 16);

        Assert.That(lines, Is.EqualTo(new[] { line, line }));
    }

    [Test]
    public void Refuses_a_terminated_line_one_byte_over_the_limit()
    {
        Assert.ThrowsAsync<LineTooLongException>(() => FrameAsync(["ok\n" + new string('x', 17) + "\n"], maxLineLength: 16));
    }

    [Test]
    public void TryReadLine_reports_too_long_before_any_newline_arrives()
    {
        var buffer = new System.Buffers.ReadOnlySequence<byte>(new byte[18]);

        Assert.That(LineFramer.TryReadLine(ref buffer, 16, out _), Is.EqualTo(FrameStatus.TooLong));
    }

    [Test]
    public void TryReadLine_waits_while_a_line_could_still_fit()
    {
        var buffer = new System.Buffers.ReadOnlySequence<byte>(new byte[17]);

        Assert.That(LineFramer.TryReadLine(ref buffer, 16, out _), Is.EqualTo(FrameStatus.Incomplete));
        Assert.That(buffer.Length, Is.EqualTo(17), "nothing is consumed while incomplete");
    }

    [Test]
    public async Task Refuses_100_MB_without_a_newline_after_reading_little_more_than_the_limit()
    {
        const long total = 100L * 1024 * 1024;
        using var source = new EndlessStream(total);
        var reader = PipeReader.Create(source, new StreamPipeReaderOptions(bufferSize: 4096));

        var framing = CollectAsync(reader, LineFramer.DefaultMaxLineLength);

        Assert.ThrowsAsync<LineTooLongException>(async () => await framing.WaitAsync(Deadline));
        Assert.That(source.BytesRead, Is.LessThanOrEqualTo(LineFramer.DefaultMaxLineLength + (4 * 4096)));
        await reader.CompleteAsync();
    }

    private static Task<List<string>> FrameAsync(IEnumerable<string> chunks, int maxLineLength = LineFramer.DefaultMaxLineLength) =>
        FrameAsync(chunks.Select(Encoding.UTF8.GetBytes), maxLineLength);

    private static async Task<List<string>> FrameAsync(IEnumerable<byte[]> chunks, int maxLineLength = LineFramer.DefaultMaxLineLength)
    {
        var pipe = new Pipe();
        var framing = CollectAsync(pipe.Reader, maxLineLength);
        foreach (var chunk in chunks)
        {
            await pipe.Writer.WriteAsync(chunk);
        }

        await pipe.Writer.CompleteAsync();
        var lines = await framing.WaitAsync(Deadline);
        return lines.Select(line => Encoding.UTF8.GetString(line.Span)).ToList();
    }

    private static async Task<List<ReadOnlyMemory<byte>>> CollectAsync(PipeReader reader, int maxLineLength)
    {
        var lines = new List<ReadOnlyMemory<byte>>();
        await foreach (var line in LineFramer.ReadLinesAsync(reader, maxLineLength))
        {
            lines.Add(line);
        }

        return lines;
    }

    // A stream of 'a's with no newline that counts how much was pulled from it.
    private sealed class EndlessStream(long length) : Stream
    {
        public long BytesRead { get; private set; }

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => length;

        public override long Position
        {
            get => BytesRead;
            set => throw new NotSupportedException();
        }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            var n = (int)Math.Min(buffer.Length, length - BytesRead);
            buffer[..n].Fill((byte)'a');
            BytesRead += n;
            return n;
        }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult(Read(buffer.Span));

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
