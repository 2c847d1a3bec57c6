using Point = System.Drawing.Point;
using Terminal.Gui.App;
using Terminal.Gui.Drawing;
using Terminal.Gui.Drivers;
using Terminal.Gui.Input;
using Terminal.Gui.ViewBase;
using Terminal.Gui.Views;
using Color = Terminal.Gui.Drawing.Color;
using GuiAttribute = Terminal.Gui.Drawing.Attribute;

namespace LocalChatMesh.Cli.Terminal.Screen;

/// <summary>
/// The interactive client's screen, and the only code that knows Terminal.Gui: the log above,
/// the status line, and the input line at the bottom. It draws <see cref="ScreenLog"/>,
/// <see cref="StatusLine"/> and <see cref="LineEditor"/> and maps keys to
/// <see cref="InputController"/>; all the logic is in those plain classes. Terminal.Gui owns the
/// terminal (raw mode, alternate screen, resize, colours) and gives it back on
/// <see cref="Dispose"/>. Every method may be called from any thread: work is marshalled onto
/// Terminal.Gui's main loop.
/// </summary>
internal sealed class ChatScreen : IDisposable
{
    private const string Prompt = "> ";

    private static readonly ColorName16[] Palette =
    [
        ColorName16.Red, ColorName16.Green, ColorName16.Yellow, ColorName16.Blue, ColorName16.Magenta, ColorName16.Cyan,
        ColorName16.BrightRed, ColorName16.BrightGreen, ColorName16.BrightYellow, ColorName16.BrightBlue, ColorName16.BrightMagenta,
        ColorName16.BrightCyan,
    ];

    private readonly IApplication _app;
    private readonly Runnable _top;
    private readonly LogView _log;
    private readonly LineView _status;
    private readonly LineView _input;
    private readonly ScreenLog _lines = new();
    private readonly InputController _editor;
    private readonly bool _color;
    private readonly Func<StatusLine> _statusSource;
    private bool _disposed;

    /// <param name="color">Nickname colours and highlights in colour; without, only bold and reverse video.</param>
    /// <param name="completions">What Tab completes to (asked on each Tab).</param>
    /// <param name="status">The status line's model (asked on each redraw).</param>
    public ChatScreen(bool color, Func<CompletionSources> completions, Func<StatusLine> status)
    {
        _color = color;
        _statusSource = status;
        _editor = new InputController(completions);
        _app = Application.Create().Init();
        _top = new Runnable();
        _log = new LogView(this) { X = 0, Y = 0, Width = Dim.Fill(), Height = Dim.Fill(2) };
        _status = new LineView(DrawStatus) { X = 0, Y = Pos.AnchorEnd(2), Width = Dim.Fill(), Height = 1 };
        _input = new LineView(DrawInput) { X = 0, Y = Pos.AnchorEnd(1), Width = Dim.Fill(), Height = 1, CanFocus = true };
        _top.Add(_log, _status, _input);
        _input.SetFocus();

        // Every key goes to the input line first: Tab must not move focus, Esc must not quit.
        _app.Keyboard.KeyDown += (_, key) => key.Handled = OnKey(key);
    }

    /// <summary>Enter on a line: the line as typed (the screen does not echo it; the broker's copy is what shows).</summary>
    public event Action<string>? Submitted;

    /// <summary>Ctrl+C, or Ctrl+D on an empty line.</summary>
    public event Action? LeaveRequested;

    /// <summary>Runs the screen until <see cref="Stop"/>; blocks the calling thread.</summary>
    public void Run() => _app.Run(_top);

    /// <summary>Ends <see cref="Run"/>.</summary>
    public void Stop() => Post(() => _app.RequestStop());

    /// <summary>Adds a line to the log (scrolling it, unless the user scrolled back).</summary>
    public void Add(ChatLine line) => Post(() =>
    {
        _lines.Add(line, DateTimeOffset.Now);
        _log.SetNeedsDraw();
    });

    /// <summary>Redraws the status line.</summary>
    public void StatusChanged() => Post(() => _status.SetNeedsDraw());

    /// <summary>Gives the terminal back as it was: normal screen, cooked mode, cursor shown.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        Volatile.Write(ref _disposed, true);
        _top.Dispose();
        _app.Dispose();
    }

    // Late callers (a message arriving while the session ends) are ignored once the screen is gone.
    private void Post(Action action)
    {
        if (Volatile.Read(ref _disposed))
        {
            return;
        }

        try
        {
            _app.Invoke(() =>
            {
                if (!Volatile.Read(ref _disposed))
                {
                    action();
                }
            });
        }
        catch (Exception exception) when (exception is ObjectDisposedException or InvalidOperationException)
        {
            // The main loop has already stopped.
        }
    }

    private bool OnKey(Key key)
    {
        var outcome = Map(key) switch
        {
            { } editKey => _editor.Press(editKey),
            null when key.KeyCode == KeyCode.PageUp => Scroll(up: true),
            null when key.KeyCode == KeyCode.PageDown => Scroll(up: false),
            null when !key.IsCtrl && !key.IsAlt && key.AsRune.Value >= 0x20 && key.AsRune.Value != 0x7F => _editor.Type(key.AsRune.ToString()),
            _ => (InputOutcome?)null,
        };
        switch (outcome)
        {
            case InputOutcome.Submit:
                Submitted?.Invoke(_editor.Submitted);
                break;
            case InputOutcome.Leave:
                LeaveRequested?.Invoke();
                break;
        }

        _input.SetNeedsDraw();
        return true;
    }

    private InputOutcome Scroll(bool up)
    {
        var page = Math.Max(1, _log.Viewport.Height - 1);
        if (up)
        {
            _lines.ScrollUp(page);
        }
        else
        {
            _lines.ScrollDown(page);
        }

        _log.SetNeedsDraw();
        return InputOutcome.Edited;
    }

    private static EditKey? Map(Key key) => key.KeyCode switch
    {
        KeyCode.CursorLeft or (KeyCode.B | KeyCode.CtrlMask) => EditKey.Left,
        KeyCode.CursorRight or (KeyCode.F | KeyCode.CtrlMask) => EditKey.Right,
        KeyCode.Home or (KeyCode.A | KeyCode.CtrlMask) => EditKey.Home,
        KeyCode.End or (KeyCode.E | KeyCode.CtrlMask) => EditKey.End,
        KeyCode.CursorLeft | KeyCode.CtrlMask or KeyCode.CursorLeft | KeyCode.AltMask => EditKey.WordLeft,
        KeyCode.CursorRight | KeyCode.CtrlMask or KeyCode.CursorRight | KeyCode.AltMask => EditKey.WordRight,
        KeyCode.Backspace or (KeyCode.H | KeyCode.CtrlMask) => EditKey.Backspace,
        KeyCode.Delete => EditKey.Delete,
        (KeyCode.W | KeyCode.CtrlMask) or (KeyCode.Backspace | KeyCode.AltMask) or (KeyCode.Backspace | KeyCode.CtrlMask) => EditKey.DeleteWordBefore,
        KeyCode.U | KeyCode.CtrlMask => EditKey.DeleteToStart,
        KeyCode.K | KeyCode.CtrlMask => EditKey.DeleteToEnd,
        KeyCode.CursorUp or (KeyCode.P | KeyCode.CtrlMask) => EditKey.Up,
        KeyCode.CursorDown or (KeyCode.N | KeyCode.CtrlMask) => EditKey.Down,
        KeyCode.Tab => EditKey.Tab,
        KeyCode.Enter => EditKey.Enter,
        KeyCode.D | KeyCode.CtrlMask => EditKey.EndOfInput,
        KeyCode.C | KeyCode.CtrlMask => EditKey.Interrupt,
        _ => null,
    };

    private static GuiAttribute Plain => new(Color.None, Color.None);

    private GuiAttribute NicknameAttribute(string nickname) =>
        _color ? new GuiAttribute(new Color(Palette[NicknameColors.Index(nickname, Palette.Length)]), Color.None, TextStyle.Bold) : new GuiAttribute(Color.None, Color.None, TextStyle.Bold);

    private GuiAttribute LineAttribute(ChatLine line) => line switch
    {
        { Mentions: true } => _color ? new GuiAttribute(new Color(ColorName16.BrightYellow), Color.None, TextStyle.Bold) : new GuiAttribute(Color.None, Color.None, TextStyle.Bold | TextStyle.Underline),
        { IsError: true } => _color ? new GuiAttribute(new Color(ColorName16.BrightRed), Color.None) : Plain,
        { IsHistory: true } or { Kind: LineKind.Notice } => _color ? new GuiAttribute(new Color(ColorName16.Gray), Color.None) : new GuiAttribute(Color.None, Color.None, TextStyle.Faint),
        _ => Plain,
    };

    private void DrawLog(View view)
    {
        var width = view.Viewport.Width;
        var height = view.Viewport.Height;
        var rows = _lines.Rows(width, height);
        var top = height - rows.Count;
        for (var y = 0; y < height; y++)
        {
            view.Move(0, y);
            view.SetAttribute(Plain);
            if (y < top)
            {
                view.AddStr(new string(' ', width));
                continue;
            }

            var row = rows[y - top];
            var line = row.Entry.Line;
            var stampLength = row.Entry.Stamp.Length;
            var (senderStart, senderEnd) = row.IsFirst && line.Nickname is not null
                ? (stampLength + line.Sender.Start.Value, stampLength + line.Sender.End.Value)
                : (0, 0);
            senderEnd = Math.Min(senderEnd, row.Text.Length);
            var body = LineAttribute(line);
            if (senderEnd > senderStart)
            {
                Write(view, row.Text[..senderStart], row.IsFirst ? stampLength : 0, body);
                view.SetAttribute(NicknameAttribute(line.Nickname!));
                view.AddStr(row.Text[senderStart..senderEnd]);
                view.SetAttribute(body);
                view.AddStr(row.Text[senderEnd..]);
            }
            else
            {
                Write(view, row.Text, row.IsFirst ? stampLength : 0, body);
            }

            view.SetAttribute(Plain);
            view.AddStr(new string(' ', Math.Max(0, width - TextWidth.Columns(row.Text))));
        }
    }

    // The timestamp in the plain attribute (faint), the rest in the line's.
    private void Write(View view, string text, int stampLength, GuiAttribute body)
    {
        stampLength = Math.Min(stampLength, text.Length);
        view.SetAttribute(_color ? new GuiAttribute(new Color(ColorName16.DarkGray), Color.None) : new GuiAttribute(Color.None, Color.None, TextStyle.Faint));
        view.AddStr(text[..stampLength]);
        view.SetAttribute(body);
        view.AddStr(text[stampLength..]);
    }

    private void DrawStatus(View view)
    {
        var width = view.Viewport.Width;
        var text = _statusSource().Render();
        var (visible, _) = Fit(text, width);
        view.Move(0, 0);
        view.SetAttribute(new GuiAttribute(Color.None, Color.None, TextStyle.Reverse));
        view.AddStr(visible + new string(' ', Math.Max(0, width - TextWidth.Columns(visible))));
    }

    private void DrawInput(View view)
    {
        var width = view.Viewport.Width;
        var (text, cursor) = _editor.Editor.View(Math.Max(1, width - Prompt.Length));
        view.Move(0, 0);
        view.SetAttribute(Plain);
        view.AddStr(Prompt + text + new string(' ', Math.Max(0, width - Prompt.Length - TextWidth.Columns(text))));
        view.Cursor = new Cursor { Position = view.ViewportToScreen(new Point(Prompt.Length + cursor, 0)), Style = CursorStyle.SteadyBar };
    }

    private static (string Text, int Columns) Fit(string text, int width)
    {
        var editor = new LineEditor();
        editor.SetText(text, 0);
        var (visible, _) = editor.View(width);
        return (visible, TextWidth.Columns(visible));
    }

    private sealed class LogView(ChatScreen screen) : View
    {
        protected override bool OnDrawingContent(DrawContext? context)
        {
            screen.DrawLog(this);
            return true;
        }
    }

    private sealed class LineView(Action<View> draw) : View
    {
        protected override bool OnDrawingContent(DrawContext? context)
        {
            draw(this);
            return true;
        }
    }
}
