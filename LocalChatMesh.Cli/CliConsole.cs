using System.Reflection;
using System.Text;
using Cocona.Application;

namespace LocalChatMesh.Cli;

/// <summary>
/// The exit codes of every command (docs/cli.md): 0 done, 1 a failure at run time (cannot
/// connect, refused, cannot listen, connection failed), 2 a usage error (unknown option or
/// command, missing or malformed value, a setting out of range).
/// </summary>
internal static class ExitCodes
{
    public const int Success = 0;
    public const int Failure = 1;
    public const int Usage = 2;

    /// <summary>Cocona's own codes made consistent: help exits 0 (Cocona says 129), its usage errors 2 (it says 129 or 1).</summary>
    public static int FromCocona(int exitCode, IReadOnlyList<string> arguments, bool usageErrorWritten)
    {
        if (exitCode == 129 && !usageErrorWritten && arguments.Any(a => a is "--help" or "-h"))
        {
            return Success;
        }

        return usageErrorWritten || exitCode == 129 ? Usage : exitCode;
    }
}

/// <summary>
/// What Cocona prints, in the CLI's style. Commands write to the console themselves; Cocona writes
/// through this provider for help, for its usage errors and for an exception no command handled.
/// </summary>
internal sealed class CliConsole : ICoconaConsoleProvider, IDisposable
{
    private readonly UsageErrorWriter _error = new();

    public TextWriter Output => Console.Out;

    public TextWriter Error => _error;

    public bool UsageErrorWritten => _error.Written;

    public void Dispose() => _error.Dispose();

    /// <summary>
    /// Cocona's usage errors (<c>Error: ...</c>) become <c>error: ...</c>; an exception no command
    /// handled becomes one <c>error: ...</c> line without its stack trace (set
    /// <c>CHATMESH_STACK_TRACES=1</c> to see it), so no command ever ends in a stack trace.
    /// </summary>
    private sealed class UsageErrorWriter : TextWriter
    {
        private const string CoconaError = "Error: ";
        private const string Unhandled = "Unhandled Exception: ";

        private static readonly bool StackTraces = Environment.GetEnvironmentVariable("CHATMESH_STACK_TRACES") is "1";

        private readonly StringBuilder _line = new();
        private bool _inException;

        public bool Written { get; private set; }

        public override Encoding Encoding => Console.Error.Encoding;

        public override void Write(char value)
        {
            if (value == '\n')
            {
                Flush();
                return;
            }

            if (value != '\r')
            {
                _line.Append(value);
            }
        }

        public override void Flush()
        {
            if (_line.Length == 0)
            {
                return;
            }

            var text = _line.ToString();
            _line.Clear();
            if (text.StartsWith(CoconaError, StringComparison.Ordinal))
            {
                Written = true;
                _inException = false;
                text = "error: " + text[CoconaError.Length..];
            }
            else if (text.StartsWith(Unhandled, StringComparison.Ordinal))
            {
                _inException = true;
                text = "error: " + text[Unhandled.Length..];
            }
            else if (_inException && !StackTraces)
            {
                return;
            }

            Console.Error.WriteLine(text);
            Console.Error.Flush();
        }

        protected override void Dispose(bool disposing)
        {
            Flush();
            base.Dispose(disposing);
        }
    }
}

/// <summary>Names the tool <c>chatmesh</c> in usage lines however it was started (<c>dotnet chatmesh.dll</c>, the tool shim).</summary>
internal sealed class CliMetadata : ICoconaApplicationMetadataProvider
{
    public string GetExecutableName() => "chatmesh";

    public string GetVersion() =>
        typeof(CliMetadata).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0";

    public string GetProductName() => "Local Chat Mesh";

    public string GetDescription() => "chatmesh: run a Local Chat Mesh broker, chat from a terminal, and benchmark";
}
