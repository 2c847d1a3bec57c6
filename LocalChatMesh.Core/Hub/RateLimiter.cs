namespace LocalChatMesh.Hub;

/// <summary>
/// A token bucket on the hub's clock: <c>rate</c> messages per second on average, bursts of up to
/// one second's worth. Time comes from the caller so the rule runs on virtual time in tests.
/// </summary>
internal sealed class RateLimiter(double messagesPerSecond, DateTimeOffset now)
{
    private readonly double _capacity = Math.Max(1, messagesPerSecond);
    private double _tokens = Math.Max(1, messagesPerSecond);
    private DateTimeOffset _refilledAt = now;

    public bool TryTake(DateTimeOffset now)
    {
        var elapsed = (now - _refilledAt).TotalSeconds;
        if (elapsed > 0)
        {
            _tokens = Math.Min(_capacity, _tokens + (elapsed * messagesPerSecond));
            _refilledAt = now;
        }

        if (_tokens < 1)
        {
            return false;
        }

        _tokens -= 1;
        return true;
    }
}
