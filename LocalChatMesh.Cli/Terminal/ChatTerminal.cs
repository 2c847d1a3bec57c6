using System.Net;
using System.Text;
using System.Threading.Channels;
using LocalChatMesh.Protocol;

namespace LocalChatMesh.Cli.Terminal;

/// <summary>
/// The terminal client's session: connects, prints server messages as they arrive, and sends each
/// input line as a chat until <c>/quit</c>, end of input, cancellation or the broker closing.
/// </summary>
/// <param name="input">Lines typed by the user.</param>
/// <param name="output">Chat lines (or JSON lines in <paramref name="json"/> mode).</param>
/// <param name="error">Problems, and in JSON mode the client's own notices.</param>
/// <param name="json">Print each server message as its JSON line instead of a human line.</param>
internal sealed class ChatTerminal(TextReader input, TextWriter output, TextWriter error, bool json)
{
    private const int InputBacklog = 16;

    private static readonly TimeSpan EndingGrace = TimeSpan.FromSeconds(5);

    private readonly Lock _writeLock = new();
    private bool _silenced;
    private string? _failure;

    private enum Ending
    {
        Quit,
        EndOfInput,
        Cancelled,
        ConnectionEnded,
    }

    /// <summary>Runs the session and returns the process exit code.</summary>
    public Task<int> RunAsync(IPEndPoint server, string nickname, CancellationToken cancellationToken) =>
        RunAsync(token => V2ChatSession.ConnectAsync(server, nickname, token), cancellationToken);

    /// <summary>Runs a session over whatever <paramref name="connect"/> opens; returns the process exit code.</summary>
    public async Task<int> RunAsync(Func<CancellationToken, Task<IChatSession>> connect, CancellationToken cancellationToken)
    {
        IChatSession session;
        try
        {
            session = await connect(cancellationToken);
        }
        catch (ChatHandshakeException exception)
        {
            Write(TerminalRenderer.Error(exception.ServerMessage));
            return 1;
        }
        catch (ChatConnectionException exception)
        {
            Write(TerminalRenderer.Error(exception.Message));
            return 1;
        }
        catch (Exception exception) when (exception is InvalidDataException or IOException)
        {
            // Not a chat broker (HTTP, garbage, an endless line): the library reports what it read.
            Write(TerminalRenderer.Error(exception.Message));
            return 1;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return 0;
        }

        await using (session)
        {
            var controller = new SessionController(session, new Output(this));
            controller.Start();
            using var printing = session.Messages.Subscribe(controller.OnMessage, exception => _failure = exception.Message, () => { });
            using var states = session.ConnectionStates.Subscribe(controller.OnConnectionStatus);
            using var resumes = session.Resumes.Subscribe(resume => controller.OnResume(resume.Room, resume.Resume));
            var lines = ReadInputInBackground();
            var ending = await PumpAsync(controller, session, lines.Reader, cancellationToken);
            lines.Writer.TryComplete();
            lock (_writeLock)
            {
                _silenced = ending != Ending.ConnectionEnded;
            }

            switch (ending)
            {
                case Ending.Quit:
                    Notice(TerminalRenderer.LeavingChat);
                    return 0;
                case Ending.EndOfInput or Ending.Cancelled:
                    return 0;
                default:
                    // Observers have seen every message by the time Completion completes.
                    if (await EndingAsync(session) == ChatClientCloseReason.TransportFailure)
                    {
                        Write(TerminalRenderer.Error(_failure ?? "the connection failed"));
                        return 1;
                    }

                    Notice(TerminalRenderer.ServerClosed);
                    return 0;
            }
        }
    }

    // A failed send can come before the reader loop notices the end; do not wait on it for ever.
    private static async Task<ChatClientCloseReason> EndingAsync(IChatSession session)
    {
        try
        {
            return await session.Completion.WaitAsync(EndingGrace);
        }
        catch (TimeoutException)
        {
            return ChatClientCloseReason.TransportFailure;
        }
    }

    private static async Task<Ending> PumpAsync(SessionController controller, IChatSession session, ChannelReader<string> lines, CancellationToken cancellationToken)
    {
        try
        {
            // Into the lobby at once (with rooms), not when the first line is typed.
            await controller.JoinLobbyAsync(cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return Ending.Cancelled;
        }
        catch (ChatConnectionException)
        {
            return Ending.ConnectionEnded;
        }

        while (true)
        {
            // Race the next input line against the connection ending: a pending read of standard
            // input must not keep the client alive after the broker has gone.
            var ready = lines.WaitToReadAsync(cancellationToken).AsTask();
            if (await Task.WhenAny(ready, session.Completion) != ready)
            {
                return Ending.ConnectionEnded;
            }

            try
            {
                if (!await ready)
                {
                    return Ending.EndOfInput;
                }

                while (lines.TryRead(out var line))
                {
                    if (await controller.SubmitAsync(line, cancellationToken) == SubmitResult.Quit)
                    {
                        return Ending.Quit;
                    }
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return Ending.Cancelled;
            }
            catch (ChatConnectionException)
            {
                return Ending.ConnectionEnded;
            }
        }
    }

    // Standard input has no cancellable read, so a background thread blocks on it and hands lines
    // over through a small bounded channel; nobody ever awaits the thread itself.
    private Channel<string> ReadInputInBackground()
    {
        var lines = Channel.CreateBounded<string>(new BoundedChannelOptions(InputBacklog) { SingleReader = true, SingleWriter = true });
        var thread = new Thread(() =>
        {
            try
            {
                while (input.ReadLine() is { } line)
                {
                    lines.Writer.WriteAsync(line).AsTask().GetAwaiter().GetResult();
                }
            }
            catch (Exception exception) when (exception is ChannelClosedException or IOException or ObjectDisposedException)
            {
                // The session is over, or standard input broke: either way there is nothing more to read.
            }

            lines.Writer.TryComplete();
        })
        {
            IsBackground = true,
            Name = "chatmesh stdin",
        };
        thread.Start();
        return lines;
    }

    private void ShowMessage(ServerMessage message, ChatLine? line)
    {
        if (json)
        {
            var encoded = Encoding.UTF8.GetString(MessageEncoder.Encode(message).AsSpan(..^1));
            WriteLine(output, TextSanitizer.SanitizeJson(encoded), fromNetwork: true);
        }
        else if (line is not null)
        {
            WriteLine(line.IsError ? error : output, line.Text, fromNetwork: true);
        }
    }

    // The client's own lines (hints, refusals, /help); in JSON mode standard output carries nothing but JSON.
    private void Show(ChatLine line) => WriteLine(line.IsError || json ? error : output, line.Text, fromNetwork: false);

    // The client's own notices; in JSON mode standard output carries nothing but JSON.
    private void Notice(string text) => WriteLine(json ? error : output, text, fromNetwork: false);

    private void Write(TerminalLine line) => WriteLine(line.IsError ? error : output, line.Text, fromNetwork: false);

    private sealed class Output(ChatTerminal terminal) : ISessionOutput
    {
        public void Show(ChatLine line) => terminal.Show(line);

        public void ShowMessage(ServerMessage message, ChatLine? line) => terminal.ShowMessage(message, line);

        public void StatusChanged()
        {
            // Plain lines have no status line.
        }
    }

    private void WriteLine(TextWriter writer, string text, bool fromNetwork)
    {
        lock (_writeLock)
        {
            if (fromNetwork && _silenced)
            {
                return;
            }

            writer.WriteLine(text);
            writer.Flush();
        }
    }
}
