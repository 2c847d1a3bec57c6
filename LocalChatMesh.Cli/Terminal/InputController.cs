namespace LocalChatMesh.Cli.Terminal;

/// <summary>The keys the interactive client acts on, independent of any terminal library.</summary>
internal enum EditKey
{
    Left,
    Right,
    Home,
    End,
    WordLeft,
    WordRight,
    Backspace,
    Delete,
    DeleteWordBefore,
    DeleteToStart,
    DeleteToEnd,
    Up,
    Down,
    Tab,
    Enter,

    /// <summary>Ctrl+D: leaves on an empty line, deletes under the cursor otherwise (as in a shell).</summary>
    EndOfInput,

    /// <summary>Ctrl+C: leaves.</summary>
    Interrupt,
}

internal enum InputOutcome
{
    /// <summary>The line changed (or nothing happened): redraw it.</summary>
    Edited,

    /// <summary>Enter: <see cref="InputController.Submitted"/> holds the line to act on.</summary>
    Submit,

    /// <summary>Ctrl+C, or Ctrl+D on an empty line.</summary>
    Leave,
}

/// <summary>
/// The input line of the interactive client: keys to <see cref="LineEditor"/>, <see cref="InputHistory"/>
/// and <see cref="Completer"/>. Pure, so every key's effect is tested without a terminal.
/// </summary>
internal sealed class InputController(Func<CompletionSources> completions)
{
    public LineEditor Editor { get; } = new();

    public InputHistory History { get; } = new();

    public Completer Completer { get; } = new();

    /// <summary>The line Enter submitted (after <see cref="InputOutcome.Submit"/>).</summary>
    public string Submitted { get; private set; } = "";

    /// <summary>Typed text (printable characters; a paste may bring several).</summary>
    public InputOutcome Type(string text)
    {
        Editor.Insert(text);
        return InputOutcome.Edited;
    }

    public InputOutcome Press(EditKey key)
    {
        switch (key)
        {
            case EditKey.Left: Editor.Left(); break;
            case EditKey.Right: Editor.Right(); break;
            case EditKey.Home: Editor.Home(); break;
            case EditKey.End: Editor.End(); break;
            case EditKey.WordLeft: Editor.WordLeft(); break;
            case EditKey.WordRight: Editor.WordRight(); break;
            case EditKey.Backspace: Editor.Backspace(); break;
            case EditKey.Delete: Editor.Delete(); break;
            case EditKey.DeleteWordBefore: Editor.DeleteWordBefore(); break;
            case EditKey.DeleteToStart: Editor.DeleteToStart(); break;
            case EditKey.DeleteToEnd: Editor.DeleteToEnd(); break;
            case EditKey.Up:
                if (History.Previous(Editor.Text) is { } previous)
                {
                    Editor.SetText(previous);
                }

                break;
            case EditKey.Down:
                if (History.Next() is { } next)
                {
                    Editor.SetText(next);
                }

                break;
            case EditKey.Tab:
                if (Completer.Complete(Editor.Text, Editor.Cursor, completions()) is { } completed)
                {
                    Editor.SetText(completed.Text, completed.Cursor);
                }

                break;
            case EditKey.Enter:
                Submitted = Editor.Take();
                History.Add(Submitted);
                return InputOutcome.Submit;
            case EditKey.EndOfInput when Editor.Text.Length == 0:
            case EditKey.Interrupt:
                return InputOutcome.Leave;
            case EditKey.EndOfInput:
                Editor.Delete();
                break;
        }

        return InputOutcome.Edited;
    }
}
