using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;

namespace LocalChatMesh.Cli.Commands;

/// <summary>
/// Builds the CLI's loggers: standard error only, and no colour unless it is a terminal. The NATS
/// client's own log (connection chatter, exceptions with stack traces) shows only at debug level: the
/// cluster engine says in one line what a person running the broker needs (lost, back, unreachable).
/// </summary>
internal static class Logging
{
    public static ILoggerFactory Create(LogLevel minimumLevel) =>
        LoggerFactory.Create(builder => builder
            .SetMinimumLevel(minimumLevel)
            .AddFilter("NATS", minimumLevel <= LogLevel.Debug ? minimumLevel : LogLevel.None)
            .AddSimpleConsole(options =>
            {
                options.SingleLine = true;
                options.TimestampFormat = "HH:mm:ss.fff ";
                options.ColorBehavior = Console.IsErrorRedirected ? LoggerColorBehavior.Disabled : LoggerColorBehavior.Default;
            })
            .AddConsole(options => options.LogToStandardErrorThreshold = LogLevel.Trace));
}
