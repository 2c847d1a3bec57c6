using LocalChatMesh.Cli.Commands;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace LocalChatMesh.Tests.Cli;

/// <summary>
/// The CLI's standard-error logger: the single-line format the console logger gave before it
/// replaced it (<c>HH:mm:ss.fff level: Category[EventId] message</c>), its levels and its filters.
/// </summary>
public class LoggingTests
{
    private static readonly DateTimeOffset At = new(2026, 12, 1, 13, 4, 5, 67, TimeSpan.Zero);

    [Test]
    public void An_entry_is_one_line_with_time_level_category_event_and_message()
    {
        var (logger, output) = Create(LogLevel.Information, "LocalChatMesh.Broker");

        logger.Log(LogLevel.Information, new EventId(1), "broker listening on 127.0.0.1:5000", null, static (s, _) => s);
        logger.Log(LogLevel.Warning, new EventId(12, "Named"), "slow", null, static (s, _) => s);

        Assert.That(output.ToString(), Is.EqualTo(
            "13:04:05.067 info: LocalChatMesh.Broker[1] broker listening on 127.0.0.1:5000\n" +
            "13:04:05.067 warn: LocalChatMesh.Broker[12] slow\n"));
    }

    [TestCase(LogLevel.Trace, "trce")]
    [TestCase(LogLevel.Debug, "dbug")]
    [TestCase(LogLevel.Information, "info")]
    [TestCase(LogLevel.Warning, "warn")]
    [TestCase(LogLevel.Error, "fail")]
    [TestCase(LogLevel.Critical, "crit")]
    public void Each_level_has_the_console_loggers_four_letters(LogLevel level, string name)
    {
        var (logger, output) = Create(LogLevel.Trace, "c");

        logger.Log(level, new EventId(3), "m", null, static (s, _) => s);

        Assert.That(output.ToString(), Is.EqualTo($"13:04:05.067 {name}: c[3] m\n"));
    }

    [Test]
    public void A_message_and_an_exception_spanning_lines_stay_on_one_line()
    {
        var (logger, output) = Create(LogLevel.Information, "c");
        var exception = new InvalidOperationException("bad\nthing");

        logger.Log(LogLevel.Error, new EventId(7), "first\nsecond", exception, static (s, _) => s);

        var text = output.ToString();
        Assert.That(text, Does.StartWith("13:04:05.067 fail: c[7] first second System.InvalidOperationException: bad thing"));
        Assert.That(text.TrimEnd('\n'), Does.Not.Contain('\n'));
        Assert.That(text, Does.EndWith("\n"));
    }

    [Test]
    public void Entries_below_the_minimum_level_are_not_written_and_none_writes_nothing()
    {
        var (warning, output) = Create(LogLevel.Warning, "c");
        warning.Log(LogLevel.Information, new EventId(1), "no", null, static (s, _) => s);
        Assert.That(warning.IsEnabled(LogLevel.Information), Is.False);
        Assert.That(warning.IsEnabled(LogLevel.Warning), Is.True);
        Assert.That(output.ToString(), Is.Empty);

        var (none, quiet) = Create(LogLevel.None, "c");
        none.Log(LogLevel.Critical, new EventId(1), "no", null, static (s, _) => s);
        Assert.That(none.IsEnabled(LogLevel.Critical), Is.False);
        Assert.That(quiet.ToString(), Is.Empty);
    }

    [TestCase(LogLevel.Information, false)]
    [TestCase(LogLevel.Warning, false)]
    [TestCase(LogLevel.Debug, true)]
    [TestCase(LogLevel.Trace, true)]
    public void The_nats_clients_own_log_shows_only_at_debug_level(LogLevel minimum, bool shown)
    {
        var (logger, output) = Create(minimum, "NATS.Client.Core.NatsConnection");

        logger.Log(LogLevel.Error, new EventId(1001), "connection lost", null, static (s, _) => s);

        Assert.That(output.ToString(), shown ? Does.Contain("fail: NATS.Client.Core.NatsConnection[1001] connection lost") : Is.Empty);
    }

    [Test]
    public void On_a_terminal_the_level_is_coloured_as_the_console_logger_coloured_it()
    {
        var (logger, output) = Create(LogLevel.Information, "c", colour: true);

        logger.Log(LogLevel.Information, new EventId(1), "m", null, static (s, _) => s);
        logger.Log(LogLevel.Error, new EventId(2), "m", null, static (s, _) => s);

        Assert.That(output.ToString(), Is.EqualTo(
            "13:04:05.067 \e[40m\e[32minfo\e[39m\e[22m\e[49m: c[1] m\n" +
            "13:04:05.067 \e[41m\e[30mfail\e[39m\e[22m\e[49m: c[2] m\n"));
    }

    [Test]
    public void An_empty_message_without_an_exception_is_not_written()
    {
        var (logger, output) = Create(LogLevel.Information, "c");

        logger.Log(LogLevel.Information, new EventId(1), "", null, static (s, _) => s);

        Assert.That(output.ToString(), Is.Empty);
    }

    private static (ILogger Logger, StringWriter Output) Create(LogLevel minimum, string category, bool colour = false)
    {
        var output = new StringWriter { NewLine = "\n" };
        var factory = new StandardErrorLoggerProvider(minimum, output, colour, new FakeTimeProvider(At));
        return (factory.CreateLogger(category), output);
    }
}
