using System.Text.RegularExpressions;
using Ferry.Errors;

namespace Ferry.Tests.Errors;

public sealed class ErrorCodesTests
{
    [Fact]
    public void All_EveryCode_IsUniqueWellFormedAndHasAHint()
    {
        Assert.NotEmpty(ErrorCodes.All);
        Assert.Equal(ErrorCodes.All.Count, ErrorCodes.All.Select(c => c.Code).Distinct().Count());
        Assert.All(ErrorCodes.All, c =>
        {
            Assert.Matches(new Regex("^FERRY:[A-Z][A-Za-z]+:[A-Z][A-Za-z]+$"), c.Code);
            Assert.False(string.IsNullOrWhiteSpace(c.Hint));
            Assert.Same(c, ErrorCodes.Find(c.Code));
        });
    }

    [Fact]
    public void Find_UnknownCode_ReturnsNull()
    {
        Assert.Null(ErrorCodes.Find("FERRY:Nope:Nothing"));
    }

    [Fact]
    public void ErrorsDocument_CheckedInDocsErrorsMd_MatchesRegistry()
    {
        var checkedIn = File.ReadAllText(Path.Combine(RepoRoot.Path, "docs", "errors.md"));

        // Regenerate with: dotnet run --project src/Ferry.Cli -- errors --markdown > docs/errors.md
        Assert.Equal(ErrorsDocument.Render(), checkedIn);
    }

    [Fact]
    public void ErrorsDocument_Render_ListsEveryCodeWithItsClass()
    {
        var doc = ErrorsDocument.Render();

        Assert.All(ErrorCodes.All, c => Assert.Contains($"| `{c.Code}` | {c.Class} |", doc));
    }
}
