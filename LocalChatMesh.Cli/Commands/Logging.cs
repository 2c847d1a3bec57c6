using System.Globalization;
using System.Text;
using Microsoft.Extensions.Logging;

namespace LocalChatMesh.Cli.Commands;

/// <summary>
/// Builds the CLI's loggers: standard error only, and no colour unless it is a terminal. The NATS
/// client's own log (connection chatter, exceptions with stack traces) shows only at debug level: the
/// cluster engine says in one line what a person running the broker needs (lost, back, unreachable).
/// </summary>
internal static class Logging
{
    public static ILoggerFactory Create(LogLevel minimumLevel) =>
        new StandardErrorLoggerProvider(minimumLevel, Console.Error, Colour());

    // The console logger's rule: standard error a terminal, and standard output a terminal too
    // (unless DOTNET_SYSTEM_CONSOLE_ALLOW_ANSI_COLOR_REDIRECTION is 1 or true); NO_COLOR turns it off.
    private static bool Colour()
    {
        if (Console.IsErrorRedirected)
        {
            return false;
        }

        if (!Console.IsOutputRedirected)
        {
            return Environment.GetEnvironmentVariable("NO_COLOR") is null;
        }

        return Environment.GetEnvironmentVariable("DOTNET_SYSTEM_CONSOLE_ALLOW_ANSI_COLOR_REDIRECTION") is { } allow
            && (allow == "1" || allow.Equals("true", StringComparison.OrdinalIgnoreCase));
    }
}

/// <summary>
/// A logger of the CLI's own: one line per entry on standard error, written at once, in the format
/// Microsoft.Extensions.Logging.Console's simple single-line formatter gave before
/// (<c>HH:mm:ss.fff info: Category[EventId] message</c>, an exception on the same line), with the
/// level coloured as it coloured it when standard error is a terminal. It replaces that package
/// because the package brings System.Text.Json, the configuration binder, options validation and a
/// writer thread into every broker: ~2 MB of RSS at rest (BENCHMARKS.md, "Memory at rest and per
/// connection"). It is its own factory too: <see cref="ILoggerFactory.AddProvider"/> is not
/// supported. Scopes are not written (the console logger did not write them either by default).
/// </summary>
internal sealed class StandardErrorLoggerProvider(LogLevel minimumLevel, TextWriter writer, bool colour, TimeProvider? clock = null)
    : ILoggerProvider, ILoggerFactory
{
    // The NATS client's categories (NATS.Client.Core..., as the filter rule "NATS" matched them).
    private const string NatsPrefix = "NATS";

    private readonly TimeProvider _clock = clock ?? TimeProvider.System;
    private readonly bool _colour = colour;
    private readonly Lock _lock = new();

    public ILogger CreateLogger(string categoryName)
    {
        ArgumentNullException.ThrowIfNull(categoryName);
        var level = categoryName.StartsWith(NatsPrefix, StringComparison.OrdinalIgnoreCase) && minimumLevel > LogLevel.Debug
            ? LogLevel.None
            : minimumLevel;
        return new Logger(this, categoryName, level);
    }

    public void AddProvider(ILoggerProvider provider) =>
        throw new NotSupportedException("the CLI's logger writes to standard error only");

    public void Dispose() => writer.Flush();

    private void Write(string line)
    {
        lock (_lock)
        {
            writer.Write(line);
            writer.Flush();
        }
    }

    private static string Level(LogLevel level) => level switch
    {
        LogLevel.Trace => "trce",
        LogLevel.Debug => "dbug",
        LogLevel.Information => "info",
        LogLevel.Warning => "warn",
        LogLevel.Error => "fail",
        LogLevel.Critical => "crit",
        _ => level.ToString().ToLowerInvariant(),
    };

    // The console logger's colours: background, then foreground, then both reset.
    private static (string Start, string End) Colours(LogLevel level) => level switch
    {
        LogLevel.Trace or LogLevel.Debug => ("\e[40m\e[37m", "\e[39m\e[22m\e[49m"),
        LogLevel.Information => ("\e[40m\e[32m", "\e[39m\e[22m\e[49m"),
        LogLevel.Warning => ("\e[40m\e[1m\e[33m", "\e[39m\e[22m\e[49m"),
        LogLevel.Error => ("\e[41m\e[30m", "\e[39m\e[22m\e[49m"),
        LogLevel.Critical => ("\e[41m\e[1m\e[37m", "\e[39m\e[22m\e[49m"),
        _ => ("", ""),
    };

    private sealed class Logger(StandardErrorLoggerProvider owner, string category, LogLevel minimum) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None && logLevel >= minimum;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel))
            {
                return;
            }

            ArgumentNullException.ThrowIfNull(formatter);
            var message = formatter(state, exception);
            if (string.IsNullOrEmpty(message) && exception is null)
            {
                return;
            }

            var line = new StringBuilder(64 + category.Length + message.Length);
            line.Append(owner._clock.GetLocalNow().ToString("HH:mm:ss.fff ", CultureInfo.InvariantCulture));
            if (owner._colour)
            {
                var (start, end) = Colours(logLevel);
                line.Append(start).Append(Level(logLevel)).Append(end);
            }
            else
            {
                line.Append(Level(logLevel));
            }

            line.Append(": ").Append(category).Append('[').Append(eventId.Id.ToString(CultureInfo.InvariantCulture)).Append(']');
            AppendOneLine(line, message);
            if (exception is not null)
            {
                AppendOneLine(line, exception.ToString());
            }

            line.Append('\n');
            owner.Write(line.ToString());
        }

        private static void AppendOneLine(StringBuilder line, string text)
        {
            if (text.Length == 0)
            {
                return;
            }

            line.Append(' ');
            foreach (var c in text)
            {
                line.Append(c is '\n' or '\r' ? ' ' : c);
            }
        }
    }
}
