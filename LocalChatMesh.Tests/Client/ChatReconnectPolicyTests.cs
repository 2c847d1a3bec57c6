namespace LocalChatMesh.Tests.Client;

/// <summary>The reconnect policy alone: its delays, its jitter bounds, its checks.</summary>
public class ChatReconnectPolicyTests
{
    [Test]
    public void The_default_delays_double_from_1_s_up_to_30_s()
    {
        var policy = ChatReconnectPolicy.Default;

        var delays = Enumerable.Range(1, 8).Select(attempt => policy.BaseDelay(attempt).TotalSeconds);

        Assert.That(delays, Is.EqualTo(new double[] { 1, 2, 4, 8, 16, 30, 30, 30 }));
        Assert.That(policy.BaseDelay(10_000), Is.EqualTo(TimeSpan.FromSeconds(30)), "no overflow far out");
        Assert.That((policy.Jitter, policy.MaxAttempts, policy.Multiplier), Is.EqualTo((0.2, (int?)null, 2.0)));
    }

    [TestCase(0.0)]
    [TestCase(0.2)]
    [TestCase(1.0)]
    public void Jitter_keeps_each_delay_within_its_documented_bounds(double jitter)
    {
        var policy = new ChatReconnectPolicy { Jitter = jitter, Random = new Random(7) };

        for (var attempt = 1; attempt <= 8; attempt++)
        {
            var full = policy.BaseDelay(attempt);
            var samples = Enumerable.Range(0, 500).Select(_ => policy.NextDelay(attempt)).ToArray();

            Assert.That(samples, Is.All.InRange(full * (1 - jitter), full * (1 + jitter)), $"attempt {attempt}");
            if (jitter > 0)
            {
                Assert.That(samples.Distinct().Count(), Is.GreaterThan(100), "the delays are spread");
                Assert.That(samples.Min(), Is.LessThan(full * (1 - (jitter / 2))));
                Assert.That(samples.Max(), Is.GreaterThan(full * (1 + (jitter / 2))));
            }
        }
    }

    [Test]
    public void A_seeded_random_gives_the_same_delays_every_time()
    {
        TimeSpan[] Delays() => [.. Enumerable.Range(1, 6).Select(new ChatReconnectPolicy { Random = new Random(42) }.NextDelay)];

        var first = Delays();

        Assert.That(Delays(), Is.EqualTo(first));
    }

    [Test]
    public void Bad_values_are_refused_with_a_clear_message()
    {
        Assert.Multiple(() =>
        {
            Assert.That(() => new ChatReconnectPolicy { InitialDelay = TimeSpan.FromSeconds(-1) },
                Throws.TypeOf<ArgumentOutOfRangeException>().With.Message.StartsWith("InitialDelay must be zero or more."));
            Assert.That(() => new ChatReconnectPolicy { MaxDelay = TimeSpan.FromSeconds(-1) },
                Throws.TypeOf<ArgumentOutOfRangeException>().With.Message.StartsWith("MaxDelay must be zero or more."));
            Assert.That(() => new ChatReconnectPolicy { Multiplier = 0.5 },
                Throws.TypeOf<ArgumentOutOfRangeException>().With.Message.StartsWith("Multiplier must be a finite number, 1 or more."));
            Assert.That(() => new ChatReconnectPolicy { Multiplier = double.NaN }, Throws.TypeOf<ArgumentOutOfRangeException>());
            Assert.That(() => new ChatReconnectPolicy { Jitter = 1.5 },
                Throws.TypeOf<ArgumentOutOfRangeException>().With.Message.StartsWith("Jitter must be between 0 and 1."));
            Assert.That(() => new ChatReconnectPolicy { MaxAttempts = 0 },
                Throws.TypeOf<ArgumentOutOfRangeException>().With.Message.StartsWith("MaxAttempts must be at least 1, or null for no limit."));
            Assert.That(() => new ChatReconnectPolicy { Scheduler = null! }, Throws.TypeOf<ArgumentNullException>());
            Assert.That(() => new ChatClientOptions { Reconnect = new ChatReconnectPolicy { InitialDelay = TimeSpan.FromSeconds(5), MaxDelay = TimeSpan.FromSeconds(1) } },
                Throws.ArgumentException.With.Message.StartsWith("Reconnect.MaxDelay (00:00:01) must be at least Reconnect.InitialDelay (00:00:05)."));
        });
        Assert.That(ChatClientOptions.Default.Reconnect, Is.Null, "no reconnect unless asked");
    }
}
