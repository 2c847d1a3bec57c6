using System.Text;
using LocalChatMesh.Hub;

namespace LocalChatMesh.Tests.Hub;

/// <summary>The managed secret comparison and the random source that replace OpenSSL on the plain path.</summary>
public class SecretsTests
{
    [TestCase("s3cret", "s3cret", true)]
    [TestCase("s3cret", "s3cre", false)]
    [TestCase("s3cret", "s3cret ", false)]
    [TestCase("s3cret", "s3cret s3cret", false)]
    [TestCase("s3cret", "t3cret", false)]
    [TestCase("s3cret", "s3cres", false)]
    [TestCase("s3cret", "", false)]
    [TestCase("s", "ss", false)]
    [TestCase("ss", "s", false)]
    [TestCase("", "", true)]
    [TestCase("", "x", false)]
    [TestCase("pässwörd", "pässwörd", true)]
    [TestCase("pässwörd", "passwörd", false)]
    public void A_candidate_matches_exactly_the_secret(string secret, string candidate, bool matches)
    {
        Assert.That(ConstantTime.Matches(Encoding.UTF8.GetBytes(candidate), Encoding.UTF8.GetBytes(secret)), Is.EqualTo(matches));
        Assert.That(new SharedSecret(secret).Matches(candidate), Is.EqualTo(matches));
    }

    [Test]
    public void No_candidate_matches_no_secret()
    {
        Assert.That(new SharedSecret("s3cret").Matches(null), Is.False);
        Assert.That(new SharedSecret("").Matches(null), Is.False);
    }

    [Test]
    public void A_candidate_that_repeats_the_first_byte_past_the_end_does_not_match()
    {
        // Past the secret's end the candidate is compared with the secret's first byte: the length
        // difference alone must refuse it.
        Assert.That(ConstantTime.Matches("aaaa"u8, "a"u8), Is.False);
        Assert.That(ConstantTime.Matches("abca"u8, "abc"u8), Is.False);
    }

    [TestCase(1)]
    [TestCase(7)]
    [TestCase(14)]
    [TestCase(15)]
    [TestCase(18)]
    [TestCase(64)]
    public void Random_bytes_fill_every_position_and_differ_between_calls(int count)
    {
        // 64 draws: a bit that stayed fixed in all of them (as a Guid's version and variant bits
        // would) is not random. Chance that a truly random bit is the same in all 64: 2^-63.
        var draws = Enumerable.Range(0, 64).Select(_ => OsRandom.GetBytes(count)).ToArray();

        Assert.That(draws, Has.All.Length.EqualTo(count));
        if (count >= 7)
        {
            // 56 bits or more: a repeat among 64 draws has a chance below 2^-44.
            Assert.That(draws.Select(Convert.ToHexString).Distinct().Count(), Is.EqualTo(draws.Length), "no repeated draw");
        }

        for (var position = 0; position < count; position++)
        {
            var seen = draws.Select(d => d[position]).ToArray();
            Assert.That(seen.Aggregate(0, (bits, b) => bits | b), Is.EqualTo(0xFF), $"some bit of byte {position} never set");
            Assert.That(seen.Aggregate(0xFF, (bits, b) => bits & b), Is.Zero, $"some bit of byte {position} always set");
        }
    }
}
