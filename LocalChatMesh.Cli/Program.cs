using Cocona;
using Cocona.Application;
using LocalChatMesh.Cli;
using LocalChatMesh.Cli.Commands;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

var builder = CoconaApp.CreateBuilder(args);

// Standard output belongs to the commands (the broker's banner, chat lines, JSON);
// the host's own messages are not wanted at all. Commands log to standard error themselves.
builder.Logging.ClearProviders();

// Cocona's own messages (help, usage errors) in the CLI's style: `chatmesh` in usage lines,
// `error: ...` on standard error (docs/cli.md).
using var console = new CliConsole();
builder.Services.AddSingleton<ICoconaConsoleProvider>(console);
builder.Services.AddSingleton<ICoconaApplicationMetadataProvider, CliMetadata>();

var app = builder.Build();
app.AddCommands<BrokerCommand>();
app.AddCommands<ClientCommand>();
app.AddCommands<BenchCommand>();
app.AddCommands<SoakCommand>();
app.Run();

Environment.ExitCode = ExitCodes.FromCocona(Environment.ExitCode, args, console.UsageErrorWritten);
