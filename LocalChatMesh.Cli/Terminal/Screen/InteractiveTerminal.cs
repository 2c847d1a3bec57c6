using System.Threading.Channels;
using LocalChatMesh.Protocol;

namespace LocalChatMesh.Cli.Terminal.Screen;

/// <summary>
/// The terminal client when standard input and output are a terminal: the same session logic as
/// plain mode (<see cref="SessionController"/>) on a <see cref="ChatScreen"/>. Every way out
/// (<c>/quit</c>, Ctrl+D, Ctrl+C, SIGTERM, the broker going away, an exception) stops the screen
/// and restores the terminal first, then prints the closing line on the normal screen.
/// </summary>
/// <param name="output">The normal screen, for the closing notice after the terminal is restored.</param>
/// <param name="error">Standard error, for a failure's one line.</param>
/// <param name="color">Colours on (neither <c>--no-color</c> nor <c>NO_COLOR</c>).</param>
internal sealed class InteractiveTerminal(TextWriter output, TextWriter error, bool color)
{
    private static readonly TimeSpan EndingGrace = TimeSpan.FromSeconds(5);

    private ChatLine? _lastServerError;

    private enum Ending
    {
        Leave,
        ConnectionEnded,
    }

    public async Task<int> RunAsync(Func<CancellationToken, Task<IChatSession>> connect, CancellationToken cancellationToken)
    {
        IChatSession session;
        try
        {
            session = await connect(cancellationToken);
        }
        catch (ChatHandshakeException exception)
        {
            return Fail(exception.ServerMessage);
        }
        catch (ChatConnectionException exception)
        {
            return Fail(exception.Message);
        }
        catch (Exception exception) when (exception is InvalidDataException or IOException)
        {
            // Not a chat broker (HTTP, garbage, an endless line): the library reports what it read.
            return Fail(exception.Message);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return 0;
        }

        await using (session)
        {
            string? failure = null;
            var ending = new TaskCompletionSource<Ending>(TaskCreationOptions.RunContinuationsAsynchronously);
            try
            {
                RunScreen(session, ending, exception => failure = exception.Message, cancellationToken);
            }
#pragma warning disable CA1031 // Whatever broke the screen, the terminal is restored by now; say what it was in one line.
            catch (Exception exception)
#pragma warning restore CA1031
            {
                return Fail($"the terminal failed: {exception.Message}");
            }

            if (!ending.Task.IsCompleted || await ending.Task == Ending.Leave)
            {
                Notice(TerminalRenderer.LeavingChat);
                return 0;
            }

            if (await EndingAsync(session) == ChatClientCloseReason.TransportFailure)
            {
                return Fail(failure ?? "the connection failed");
            }

            // The broker's last word (`broker shutting down`) was on the screen that is gone now.
            if (_lastServerError is { } last)
            {
                error.WriteLine(last.Text);
                error.Flush();
            }

            Notice(TerminalRenderer.ServerClosed);
            return 0;
        }
    }

    // Blocks until the screen stops; the screen (and the terminal) is restored when it returns or throws.
    private void RunScreen(IChatSession session, TaskCompletionSource<Ending> ending, Action<Exception> failed, CancellationToken cancellationToken)
    {
        SessionController? controller = null;
        using var screen = new ChatScreen(color, () => controller!.Completions(), () => controller!.Status());
        controller = new SessionController(session, new Output(screen, line => _lastServerError = line));
        controller.Start();
        using var printing = session.Messages.Subscribe(controller.OnMessage, failed, () => { });
        using var states = session.ConnectionStates.Subscribe(controller.OnConnectionStatus);
        using var resumes = session.Resumes.Subscribe(resume => controller.OnResume(resume.Room, resume.Resume));

        var typed = Channel.CreateUnbounded<string>(new UnboundedChannelOptions { SingleReader = true });
        screen.Submitted += line => typed.Writer.TryWrite(line);
        screen.LeaveRequested += () => ending.TrySetResult(Ending.Leave);
        using var cancelled = cancellationToken.Register(() => ending.TrySetResult(Ending.Leave));
        _ = session.Completion.ContinueWith(_ => ending.TrySetResult(Ending.ConnectionEnded), TaskScheduler.Default);
        _ = SubmitLoopAsync(controller, typed.Reader, ending, cancellationToken);
        _ = ending.Task.ContinueWith(_ => screen.Stop(), TaskScheduler.Default);

        screen.Run();
        typed.Writer.TryComplete();
        ending.TrySetResult(Ending.Leave);
    }

    // Typed lines are acted on one at a time, in order, off the screen's thread.
    private static async Task SubmitLoopAsync(SessionController controller, ChannelReader<string> typed, TaskCompletionSource<Ending> ending, CancellationToken cancellationToken)
    {
        try
        {
            await controller.JoinLobbyAsync(cancellationToken);
            await foreach (var line in typed.ReadAllAsync(cancellationToken))
            {
                if (await controller.SubmitAsync(line, cancellationToken) == SubmitResult.Quit)
                {
                    ending.TrySetResult(Ending.Leave);
                    return;
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            ending.TrySetResult(Ending.Leave);
        }
        catch (ChatConnectionException)
        {
            ending.TrySetResult(Ending.ConnectionEnded);
        }
    }

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

    private int Fail(string message)
    {
        error.WriteLine(ChatLine.Error(message).Text);
        error.Flush();
        return 1;
    }

    private void Notice(string text)
    {
        output.WriteLine(text);
        output.Flush();
    }

    private sealed class Output(ChatScreen screen, Action<ChatLine> serverError) : ISessionOutput
    {
        public void Show(ChatLine line) => screen.Add(line);

        public void ShowMessage(ServerMessage message, ChatLine? line)
        {
            if (line is not null)
            {
                if (message is ErrorMessage)
                {
                    serverError(line);
                }

                screen.Add(line);
            }
        }

        public void StatusChanged() => screen.StatusChanged();
    }
}
