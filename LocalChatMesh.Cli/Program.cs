using Cocona;
using Cocona.Application;
using LocalChatMesh.Cli;
using LocalChatMesh.Cli.Commands;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

// Cocona on a bare generic host: no appsettings.json or user-secrets configuration (and no file
// watching), no environment-variable configuration, no logging providers. None of the commands
// reads configuration or logs through the host (they log to standard error themselves), and the
// defaults cost 1.3-1.5 MB of RSS in an idle `chatmesh broker` (BENCHMARKS.md, "Memory at rest").
// Standard output belongs to the commands (the broker's banner, chat lines, JSON).
//
// Cocona's own messages (help, usage errors) in the CLI's style: `chatmesh` in usage lines,
// `error: ...` on standard error (docs/cli.md).
using var console = new CliConsole();
var host = new HostBuilder()
    .ConfigureCocona(args, configureApplication: app =>
    {
        app.AddCommands<BrokerCommand>();
        app.AddCommands<ClientCommand>();
        app.AddCommands<BenchCommand>();
        app.AddCommands<SoakCommand>();
    })
    .UseConsoleLifetime(options => options.SuppressStatusMessages = true)
    .ConfigureServices(services =>
    {
        services.AddSingleton<ICoconaConsoleProvider>(console);
        services.AddSingleton<ICoconaApplicationMetadataProvider, CliMetadata>();
    })
    .Build();
host.Run();

Environment.ExitCode = ExitCodes.FromCocona(Environment.ExitCode, args, console.UsageErrorWritten);
