using Cocona;
using LocalChatMesh.Cli.Commands;
using Microsoft.Extensions.Logging;

var builder = CoconaApp.CreateBuilder(args);

// Standard output belongs to the commands (the broker's banner, the client's chat lines);
// the host's own messages are not wanted at all.
builder.Logging.ClearProviders();

var app = builder.Build();
app.AddCommands<BrokerCommand>();
app.AddCommands<BenchCommand>();
app.Run();
