using Cocona;
using LocalChatMesh.Cli.Commands;
using Microsoft.Extensions.Logging;

var builder = CoconaApp.CreateBuilder(args);

// Standard output belongs to the commands (the broker's banner, chat lines, JSON);
// the host's own messages are not wanted at all. Commands log to standard error themselves.
builder.Logging.ClearProviders();

var app = builder.Build();
app.AddCommands<BrokerCommand>();
app.AddCommands<ClientCommand>();
app.AddCommands<BenchCommand>();
app.AddCommands<SoakCommand>();
app.Run();
