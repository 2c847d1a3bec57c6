using LocalChatMesh.Hub;

namespace LocalChatMesh.Tests.Hub;

public class BroadcastSubjectTests
{
    [Test]
    public void Every_subscriber_gets_every_value_once_until_it_unsubscribes()
    {
        using var subject = new BroadcastSubject<int>();
        var a = new Recorder();
        var b = new Recorder();
        var c = new Recorder();
        subject.Subscribe(a);
        var fromB = subject.Subscribe(b);
        subject.Subscribe(c);

        subject.OnNext(1);
        fromB.Dispose();
        fromB.Dispose();
        subject.OnNext(2);

        Assert.Multiple(() =>
        {
            Assert.That(a.Values, Is.EqualTo(new[] { 1, 2 }));
            Assert.That(b.Values, Is.EqualTo(new[] { 1 }));
            Assert.That(c.Values, Is.EqualTo(new[] { 1, 2 }));
            Assert.That(subject.Count, Is.EqualTo(2));
        });
    }

    [Test]
    public void An_observer_may_unsubscribe_itself_while_it_receives_a_value()
    {
        using var subject = new BroadcastSubject<int>();
        var recorders = Enumerable.Range(0, 5).Select(_ => new Recorder()).ToList();
        var quitter = new Recorder();
        IDisposable? quitterSubscription = null;
        quitter.OnValue = () => quitterSubscription!.Dispose();
        subject.Subscribe(recorders[0]);
        subject.Subscribe(recorders[1]);
        quitterSubscription = subject.Subscribe(quitter);
        foreach (var recorder in recorders.Skip(2))
        {
            subject.Subscribe(recorder);
        }

        subject.OnNext(1);
        subject.OnNext(2);

        Assert.Multiple(() =>
        {
            Assert.That(quitter.Values, Is.EqualTo(new[] { 1 }));
            Assert.That(recorders.Select(recorder => recorder.Values), Has.All.EqualTo(new[] { 1, 2 }));
        });
    }

    [Test]
    public void Completion_reaches_every_subscriber_and_later_ones_complete_at_once()
    {
        using var subject = new BroadcastSubject<int>();
        var early = new Recorder();
        subject.Subscribe(early);

        subject.OnCompleted();
        subject.OnNext(1);
        var late = new Recorder();
        subject.Subscribe(late);

        Assert.Multiple(() =>
        {
            Assert.That(early.Completed, Is.True);
            Assert.That(early.Values, Is.Empty);
            Assert.That(late.Completed, Is.True);
            Assert.That(subject.HasObservers, Is.False);
        });
    }

    [Test]
    public void Unsubscribing_many_in_any_order_leaves_exactly_the_rest()
    {
        using var subject = new BroadcastSubject<int>();
        var recorders = Enumerable.Range(0, 50).Select(_ => new Recorder()).ToList();
        var subscriptions = recorders.Select(subject.Subscribe).ToList();
        var random = new Random(7);
        var leaving = Enumerable.Range(0, 50).OrderBy(_ => random.Next()).Take(30).ToHashSet();

        foreach (var index in leaving)
        {
            subscriptions[index].Dispose();
        }

        subject.OnNext(9);

        Assert.Multiple(() =>
        {
            Assert.That(subject.Count, Is.EqualTo(20));
            for (var i = 0; i < recorders.Count; i++)
            {
                Assert.That(recorders[i].Values, Is.EqualTo(leaving.Contains(i) ? Array.Empty<int>() : new[] { 9 }), $"observer {i}");
            }
        });
    }

    private sealed class Recorder : IObserver<int>
    {
        public List<int> Values { get; } = [];

        public bool Completed { get; private set; }

        public Action? OnValue { get; set; }

        public void OnNext(int value)
        {
            Values.Add(value);
            OnValue?.Invoke();
        }

        public void OnError(Exception error) => throw error;

        public void OnCompleted() => Completed = true;
    }
}
