using Ferry.Agent.Configuration;
using Ferry.Errors;

namespace Ferry.Tests.Agent.Configuration;

public sealed class VariableExpansionTests
{
    private static readonly Dictionary<string, string> Set = new() { ["A"] = "1", ["B_2"] = "two", ["EMPTY"] = "" };

    [Theory]
    [InlineData("plain", "plain")]
    [InlineData("${A}", "1")]
    [InlineData("x${A}y${B_2}z${A}", "x1ytwoz1")]
    [InlineData("$${A}", "${A}")]
    [InlineData("cost $5 and $", "cost $5 and $")]
    [InlineData("${EMPTY}", "")]
    [InlineData("$$${A}", "$${A}")]
    public void Expand_Valid(string text, string expected)
    {
        var (value, _) = VariableExpansion.Expand("K", text, Set.GetValueOrDefault);

        Assert.Equal(expected, value);
    }

    [Fact]
    public void Expand_ReportsTheVariablesUsed()
    {
        var (_, used) = VariableExpansion.Expand("K", "${A}${B_2}${A}$${C}", Set.GetValueOrDefault);

        Assert.Equal(["A", "B_2"], used);
    }

    [Theory]
    [InlineData("${UNSET}", "K: the environment variable UNSET is not set")]
    [InlineData("${A", "K: '${A' has a '${' that does not start a variable")]
    [InlineData("${}", "does not start a variable")]
    [InlineData("${1A}", "does not start a variable")]
    [InlineData("${A-B}", "does not start a variable")]
    public void Expand_Invalid_NamesTheKey(string text, string expected)
    {
        var error = Assert.Throws<FerryException>(() => VariableExpansion.Expand("K", text, Set.GetValueOrDefault));

        Assert.Equal(ErrorCodes.ConfigInvalid, error.Code);
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }
}
