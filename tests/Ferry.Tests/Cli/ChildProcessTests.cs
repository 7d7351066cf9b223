using Ferry.Cli.Wiring;
using Ferry.Errors;

namespace Ferry.Tests.Cli;

/// <summary>How <c>replicate --exec "CMD ARGS"</c> is split into the application's words: a shell's plain quoting, nothing more.</summary>
public sealed class ChildProcessTests
{
    public static TheoryData<string, string[]> Lines => new()
    {
        { "python3 app.py /data/app.db", ["python3", "app.py", "/data/app.db"] },
        { "  app\t--flag   x  ", ["app", "--flag", "x"] },
        { "app 'two words' \"and three words\"", ["app", "two words", "and three words"] },
        { "app 'it'\\''s' \"say \\\"hi\\\" \\\\ \\$HOME\"", ["app", "it's", "say \"hi\" \\ $HOME"] },
        { "app \"a\\nb\" 'c\\d' e\\ f", ["app", "a\\nb", "c\\d", "e f"] },
        { "app '' \"\"", ["app", "", ""] },
        { "app $HOME *.db", ["app", "$HOME", "*.db"] },
    };

    [Theory]
    [MemberData(nameof(Lines))]
    public void Split_ShellQuoting_TheWordsAShellWouldPass(string line, string[] expected) =>
        Assert.Equal(expected, ChildProcess.Split(line));

    [Theory]
    [InlineData("app 'open", "a ' is not closed")]
    [InlineData("app \"open", "a \" is not closed")]
    [InlineData("app \\", "it ends with a \\")]
    [InlineData("   ", "it names no command")]
    public void Split_Malformed_UsageErrorSayingWhy(string line, string why)
    {
        var error = Assert.Throws<FerryException>(() => ChildProcess.Split(line));

        Assert.Equal(ErrorCodes.ConfigInvalidArgument, error.Code);
        Assert.EndsWith(why, error.Message, StringComparison.Ordinal);
    }
}
