namespace LocalChatMesh.Cli.Terminal;

/// <summary>
/// The lines sent so far, for Up and Down. Walking back keeps what was being typed (the draft),
/// and walking forward past the newest line gives the draft back. Consecutive repeats and blank
/// lines are not recorded; the oldest lines go beyond <see cref="Capacity"/>.
/// </summary>
internal sealed class InputHistory(int capacity = InputHistory.DefaultCapacity)
{
    public const int DefaultCapacity = 500;

    private readonly List<string> _lines = [];
    private int _position;
    private string _draft = "";

    public int Capacity { get; } = capacity >= 1 ? capacity : throw new ArgumentOutOfRangeException(nameof(capacity));

    public IReadOnlyList<string> Lines => _lines;

    /// <summary>Records a submitted line and goes back to the end (a new draft).</summary>
    public void Add(string line)
    {
        ArgumentNullException.ThrowIfNull(line);
        if (!string.IsNullOrWhiteSpace(line) && (_lines.Count == 0 || _lines[^1] != line))
        {
            _lines.Add(line);
            if (_lines.Count > Capacity)
            {
                _lines.RemoveAt(0);
            }
        }

        _position = _lines.Count;
        _draft = "";
    }

    /// <summary>Up: the line before, or null at the oldest. <paramref name="current"/> is kept as the draft when leaving it.</summary>
    public string? Previous(string current)
    {
        if (_position == 0)
        {
            return null;
        }

        if (_position == _lines.Count)
        {
            _draft = current;
        }

        _position--;
        return _lines[_position];
    }

    /// <summary>Down: the line after, the draft past the newest, or null when already at the draft.</summary>
    public string? Next()
    {
        if (_position >= _lines.Count)
        {
            return null;
        }

        _position++;
        return _position == _lines.Count ? _draft : _lines[_position];
    }
}
