using Ferry.Coordination;
using Ferry.Replica;

namespace Ferry.Tests.Replica;

/// <summary>The rule that keeps a zombie's generation out of restores (DESIGN §5), on what storage tells.</summary>
public sealed class FencedOutGenerationsTests
{
    private static readonly DateTimeOffset T0 = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);

    private static GenerationActivity At(int minutes, FenceToken? token, int? activeUntilMinutes = null) => new(
        GenerationId.New(T0.AddMinutes(minutes)), token, T0.AddMinutes(minutes), activeUntilMinutes is { } until ? T0.AddMinutes(until) : null);

    [Fact]
    public void Find_TokensGrowingOverTime_NothingFencedOut()
    {
        var generations = new[] { At(0, new(0, 1), 30), At(10, new(0, 2), 40), At(20, new(1, 1), 50) };

        Assert.Empty(FencedOutGenerations.Find(generations));
    }

    [Fact]
    public void Find_SmallerTokenStartedWhileALargerOneWasLive_IsFencedOutNamingTheWinner()
    {
        var live = At(0, new(2, 1), 60);
        var zombie = At(30, new(1, 7), 35);

        var fencedOut = Assert.Single(FencedOutGenerations.Find([live, zombie]));

        Assert.Equal((zombie.Id, live.Id, new FenceToken(2, 1)), (fencedOut.Id, fencedOut.Winner, fencedOut.WinnerToken));
    }

    [Fact]
    public void Find_SameGenerationOlderEpoch_IsFencedOutToo()
    {
        var live = At(0, new(3, 5), 60);
        var zombie = At(30, new(3, 4), 31);

        Assert.Equal([zombie.Id], FencedOutGenerations.Find([live, zombie]).Select(f => f.Id));
    }

    [Fact]
    public void Find_SmallerTokenAfterTheLargerWentQuiet_IsNotFencedOut()
    {
        Assert.Empty(FencedOutGenerations.Find([At(0, new(5, 3), 20), At(30, new(0, 1), 40)]));
    }

    [Fact]
    public void Find_UnknownTokens_FenceNothingOutAndAreNeverFencedOut()
    {
        Assert.Empty(FencedOutGenerations.Find([At(0, null, 60), At(10, new(0, 1), 20), At(30, null, 40)]));
        Assert.Empty(FencedOutGenerations.Find([At(0, new(9, 9), null), At(30, new(0, 1), 40)]));
    }
}
