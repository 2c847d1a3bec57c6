using System.Reactive.Linq;
using System.Reactive.Subjects;
using System.Reactive.Threading.Tasks;

namespace LocalChatMesh.Tests.Support;

/// <summary>Every status a client reports, from the moment it is made, to wait on with a deadline.</summary>
internal sealed class StatusLog : IDisposable
{
    private readonly ReplaySubject<ChatConnectionStatus> _all = new();
    private readonly IDisposable _subscription;

    public StatusLog(ChatClient client)
    {
        _subscription = client.ConnectionStates.Subscribe(_all);
    }

    public IReadOnlyList<ChatConnectionStatus> All
    {
        get
        {
            var list = new List<ChatConnectionStatus>();
            using (_all.Subscribe(list.Add))
            {
                return list;
            }
        }
    }

    public Task<ChatConnectionStatus> WaitForAsync(Func<ChatConnectionStatus, bool> match, string description) =>
        _all.FirstAsync(match).ToTask().WaitAsync(FakeBroker.Deadline).ContinueWith(
            task => task.IsCompletedSuccessfully
                ? task.Result
                : throw new AssertionException($"no status {description} within the deadline; got: {string.Join(" | ", All)}"),
            TaskScheduler.Default);

    public Task<ChatConnectionStatus> WaitForAsync(ChatConnectionState state, int attempt) =>
        WaitForAsync(status => status.State == state && status.Attempt == attempt, $"{state} attempt {attempt}");

    public void Dispose()
    {
        _subscription.Dispose();
        _all.Dispose();
    }
}
