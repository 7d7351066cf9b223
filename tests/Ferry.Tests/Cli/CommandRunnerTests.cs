using System.CommandLine;
using Ferry.Cli;
using Ferry.Errors;

namespace Ferry.Tests.Cli;

/// <summary>How a command's ending becomes its line on stderr and its exit code, around an interrupt.</summary>
public sealed class CommandRunnerTests
{
    private static readonly ParseResult Parse = new RootCommand { CommandRunner.Verbose }.Parse([]);

    private static async Task<(int Exit, string Stderr)> RunAsync(Func<CancellationTokenSource, CancellationToken, Task<int>> body)
    {
        using var interrupt = new CancellationTokenSource();
        using var stderr = new StringWriter();
        var exit = await CommandRunner.RunAsync(Parse, (_, token) => body(interrupt, token), TextWriter.Null, stderr, interrupt.Token);
        return (exit, stderr.ToString());
    }

    /// <summary>Regression: after Ctrl-C every Ferry error was printed as "ferry: interrupted", its code and message lost.</summary>
    [Fact]
    public async Task RunAsync_FerryErrorWhileStoppingAfterInterrupt_ItsOwnLineAndExitCode()
    {
        var (exit, stderr) = await RunAsync(async (interrupt, token) =>
        {
            await interrupt.CancelAsync();
            Assert.True(token.IsCancellationRequested);
            throw new FerryException(ErrorCodes.StorageUnavailable, "the final upload to s3://bucket/x did not complete");
        });

        Assert.Equal(ExitCodes.Unavailable, exit);
        Assert.StartsWith("ferry: FERRY:Storage:Unavailable: the final upload to s3://bucket/x did not complete", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("interrupted", stderr, StringComparison.Ordinal);
    }

    public static TheoryData<string> Cancellations => ["OperationCanceledException", "FERRY:Op:Cancelled"];

    [Theory]
    [MemberData(nameof(Cancellations))]
    public async Task RunAsync_CancellationAfterInterrupt_Interrupted130(string kind)
    {
        var (exit, stderr) = await RunAsync(async (interrupt, token) =>
        {
            await interrupt.CancelAsync();
            if (kind == "OperationCanceledException") token.ThrowIfCancellationRequested();
            throw new FerryException(ErrorCodes.Cancelled, "stream stopped by shutdown");
        });

        Assert.Equal(ExitCodes.Interrupted, exit);
        Assert.Equal("ferry: interrupted", stderr.TrimEnd());
    }

    /// <summary>Nobody interrupted: a Cancelled error is shown for what it is, not as an interrupt.</summary>
    [Fact]
    public async Task RunAsync_CancelledErrorWithoutInterrupt_ItsOwnLine()
    {
        var (exit, stderr) = await RunAsync((_, _) => throw new FerryException(ErrorCodes.Cancelled, "stream stopped by a pause"));

        Assert.Equal(ExitCodes.Failure, exit);
        Assert.StartsWith("ferry: FERRY:Op:Cancelled: stream stopped by a pause", stderr, StringComparison.Ordinal);
    }

    /// <summary>A cancellation nobody asked for (a deadline leaking as one) is a bug with an error id, not a crash.</summary>
    [Fact]
    public async Task RunAsync_OperationCanceledWithoutInterrupt_InternalError()
    {
        var (exit, stderr) = await RunAsync(async (_, _) =>
        {
            using var deadline = new CancellationTokenSource();
            await deadline.CancelAsync();
            deadline.Token.ThrowIfCancellationRequested();
            return ExitCodes.Ok;
        });

        Assert.Equal(ExitCodes.Internal, exit);
        Assert.StartsWith("ferry: FERRY:Internal:Bug: unexpected OperationCanceledException", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_FerryErrorWithoutInterrupt_ItsOwnLineAndExitCode()
    {
        var (exit, stderr) = await RunAsync((_, _) => throw new FerryException(ErrorCodes.StorageUnavailable, "no answer"));

        Assert.Equal(ExitCodes.Unavailable, exit);
        Assert.StartsWith("ferry: FERRY:Storage:Unavailable: no answer", stderr, StringComparison.Ordinal);
    }
}
