using System.Diagnostics;
using Ferry.Diagnostics;
using Ferry.Errors;
using Ferry.TestKit;

namespace Ferry.Tests.Diagnostics;

/// <summary>
/// Failpoints are process-wide: each test uses its own point names, and the tests that configure the environment
/// or file sources reset them on dispose. The tests of this class run one at a time (one xunit collection).
/// </summary>
public sealed class FailpointsTests : IDisposable
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(5);
    private readonly TempDirectory _temp = new("failpoints");

    public void Dispose()
    {
        Failpoints.Configure(null, null);
        _temp.Dispose();
    }

    [Fact]
    public void Parse_ExampleSpecification_ReadsEveryActionAndChainsRepeatedNames()
    {
        var entries = Failpoints.Parse(
            "storage.put=error(FERRY:Storage:QuotaExceeded);capture.read=delay(2s);meta.txn=hang;storage.put=error(FERRY:Storage:Unavailable)*3",
            "test");

        Assert.Equal(["storage.put", "capture.read", "meta.txn", "storage.put"], entries.Select(e => e.Name));
        var quota = Assert.Single(entries[0].Steps);
        Assert.Equal(Failpoints.ActionKind.Error, quota.Kind);
        Assert.Same(ErrorCodes.StorageQuotaExceeded, quota.Code);
        Assert.Equal(-1, quota.Remaining);
        Assert.Equal(TimeSpan.FromSeconds(2), Assert.Single(entries[1].Steps).Delay);
        Assert.Equal(Failpoints.ActionKind.Hang, Assert.Single(entries[2].Steps).Kind);
        var unavailable = Assert.Single(entries[3].Steps);
        Assert.Same(ErrorCodes.StorageUnavailable, unavailable.Code);
        Assert.Equal(3, unavailable.Remaining);
    }

    [Fact]
    public void Parse_FileSyntax_AcceptsNewLinesCommentsArrowChainsAndSpaces()
    {
        var entries = Failpoints.Parse("# a comment\n a = delay(500ms) * 2 -> off \n\nb=delay(1.5m);;c=delay(1h)\n", "file");

        Assert.Equal(["a", "b", "c"], entries.Select(e => e.Name));
        Assert.Equal([Failpoints.ActionKind.Delay, Failpoints.ActionKind.Off], entries[0].Steps.Select(s => s.Kind));
        Assert.Equal(TimeSpan.FromMilliseconds(500), entries[0].Steps[0].Delay);
        Assert.Equal(2, entries[0].Steps[0].Remaining);
        Assert.Equal(TimeSpan.FromMinutes(1.5), entries[1].Steps[0].Delay);
        Assert.Equal(TimeSpan.FromHours(1), entries[2].Steps[0].Delay);
    }

    [Theory]
    [InlineData("storage.put", "expected name=action")]
    [InlineData("storage.put=boom", "'boom' is not an action")]
    [InlineData("storage.put=error(FERRY:No:Such)", "'FERRY:No:Such' is not a registered error code")]
    [InlineData("storage.put=delay(2 parsecs)", "'2 parsecs' is not a duration")]
    [InlineData("storage.put=hang*0", "'*0' is not a count")]
    [InlineData("storage.put=hang*x", "'*x' is not a count")]
    [InlineData("bad name=hang", "'bad name' is not a failpoint name")]
    [InlineData("ok=hang;=hang", "entry 2 '=hang'")]
    public void Parse_Malformed_ThrowsInvalidFailpointsNamingTheProblem(string spec, string expected)
    {
        var error = Assert.Throws<FerryException>(() => Failpoints.Parse(spec, "FERRY_FAILPOINTS"));

        Assert.Same(ErrorCodes.ConfigInvalidFailpoints, error.Code);
        Assert.StartsWith("FERRY_FAILPOINTS: entry ", error.Message);
        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public void Configure_MalformedSpecification_ThrowsAndKeepsWhatWasArmed()
    {
        Failpoints.Configure("fp.configure.keep=error(FERRY:Storage:Unavailable)", null);

        Assert.Throws<FerryException>(() => Failpoints.Configure("fp.configure.keep=off;x=nonsense", null));

        Assert.Throws<FerryException>(() => Failpoints.Hit("fp.configure.keep"));
    }

    [Fact]
    public async Task Hit_NotArmed_DoesNothing()
    {
        Failpoints.Hit("fp.never.armed");
        await Failpoints.HitAsync("fp.never.armed");

        Assert.False(Failpoints.IsArmed("fp.never.armed"));
    }

    [Fact]
    public async Task HitAsync_ErrorArmed_ThrowsFerryExceptionWithThatCodeAndClass()
    {
        using var scope = Failpoints.Arm("fp.error", "error(FERRY:Storage:QuotaExceeded)");

        var error = await Assert.ThrowsAsync<FerryException>(() => Failpoints.HitAsync("fp.error").AsTask());

        Assert.Same(ErrorCodes.StorageQuotaExceeded, error.Code);
        Assert.Equal(ErrorClass.Permanent, error.Class);
        Assert.Contains("failpoint fp.error", error.Message);
        Assert.Equal("failpoint:fp.error", error.Context.Operation);
    }

    [Fact]
    public async Task Reached_CompletesAtTheFirstHitWhileItsHangRuns()
    {
        using var scope = Failpoints.Arm("fp.reached", "hang");
        Assert.False(scope.Reached.IsCompleted);

        var hung = Task.Run(() => Failpoints.Hit("fp.reached"));
        await scope.Reached.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.False(hung.IsCompleted);

        Failpoints.Disarm("fp.reached");
        await hung.WaitAsync(TimeSpan.FromSeconds(30));
    }

    [Fact]
    public void Hit_ErrorWithCount_FailsThatManyTimesThenIsInert()
    {
        using var scope = Failpoints.Arm("fp.count", "error(FERRY:Storage:Unavailable)*3");

        for (var i = 0; i < 3; i++)
        {
            Assert.Same(ErrorCodes.StorageUnavailable, Assert.Throws<FerryException>(() => Failpoints.Hit("fp.count")).Code);
        }

        Failpoints.Hit("fp.count");
        Failpoints.Hit("fp.count");
        Assert.True(Failpoints.IsArmed("fp.count"));
    }

    [Fact]
    public void Hit_ChainFromEnvironmentSpecification_RunsEachActionUntilUsedUp()
    {
        Failpoints.Configure("fp.chain=off*1;fp.chain=error(FERRY:Storage:Unavailable)*2;fp.chain=error(FERRY:Storage:QuotaExceeded)", null);

        Failpoints.Hit("fp.chain");
        var codes = Enumerable.Range(0, 4).Select(_ => Assert.Throws<FerryException>(() => Failpoints.Hit("fp.chain")).Code).ToArray();

        Assert.Equal(
            [ErrorCodes.StorageUnavailable, ErrorCodes.StorageUnavailable, ErrorCodes.StorageQuotaExceeded, ErrorCodes.StorageQuotaExceeded],
            codes);
    }

    [Fact]
    public async Task HitAsync_DelayArmed_WaitsAboutThatLong()
    {
        using var scope = Failpoints.Arm("fp.delay", "delay(1s)*1");

        var watch = Stopwatch.StartNew();
        await Failpoints.HitAsync("fp.delay");
        var first = watch.Elapsed;
        watch.Restart();
        Failpoints.Hit("fp.delay");

        // Wide margins: a loaded machine may add hundreds of milliseconds, never take a second away.
        Assert.InRange(first, TimeSpan.FromMilliseconds(990), Deadline);
        Assert.True(watch.Elapsed < TimeSpan.FromMilliseconds(900), $"the used-up delay still waited {watch.Elapsed}");
    }

    [Fact]
    public async Task Hit_DelayCancelled_ThrowsOperationCanceledPromptly()
    {
        using var scope = Failpoints.Arm("fp.delay.cancel", "delay(1h)");
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(50));

        var watch = Stopwatch.StartNew();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Failpoints.HitAsync("fp.delay.cancel", cts.Token).AsTask());
        using var syncCts = new CancellationTokenSource(TimeSpan.FromMilliseconds(50));
        Assert.ThrowsAny<OperationCanceledException>(() => Failpoints.Hit("fp.delay.cancel", syncCts.Token));

        Assert.True(watch.Elapsed < Deadline, $"cancelled delays took {watch.Elapsed}");
    }

    [Fact]
    public async Task HitAsync_Hang_IsReleasedByCancellation()
    {
        using var scope = Failpoints.Arm("fp.hang.cancel", "hang");
        using var cts = new CancellationTokenSource();

        var hit = Failpoints.HitAsync("fp.hang.cancel", cts.Token).AsTask();
        await AssertStillHangingAsync(hit);
        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => hit.WaitAsync(Deadline));
    }

    [Fact]
    public async Task HitAsync_Hang_IsReleasedByDisarm()
    {
        Failpoints.Arm("fp.hang.disarm", "hang");

        var hit = Failpoints.HitAsync("fp.hang.disarm").AsTask();
        await AssertStillHangingAsync(hit);

        Assert.True(Failpoints.Disarm("fp.hang.disarm"));
        await hit.WaitAsync(Deadline);
        Assert.False(Failpoints.Disarm("fp.hang.disarm"));
    }

    [Fact]
    public async Task Hit_SyncHang_IsReleasedByScopeDisposeAndByCancellation()
    {
        var scope = Failpoints.Arm("fp.hang.sync", "hang");
        var hit = Task.Run(() => Failpoints.Hit("fp.hang.sync"));
        await AssertStillHangingAsync(hit);
        scope.Dispose();
        await hit.WaitAsync(Deadline);

        using var again = Failpoints.Arm("fp.hang.sync", "hang");
        using var cts = new CancellationTokenSource();
        var cancelled = Task.Run(() => Failpoints.Hit("fp.hang.sync", cts.Token));
        await AssertStillHangingAsync(cancelled);
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled.WaitAsync(Deadline));
    }

    [Fact]
    public void ScopeDispose_NameArmedAgainSince_LeavesTheNewArming()
    {
        var first = Failpoints.Arm("fp.rearm", "off");
        using var second = Failpoints.Arm("fp.rearm", "error(FERRY:Storage:Unavailable)");

        first.Dispose();

        Assert.Throws<FerryException>(() => Failpoints.Hit("fp.rearm"));
    }

    [Fact]
    public async Task File_Rewritten_ReArmsAndReleasesAHangWithinAFewChecks()
    {
        var file = _temp.File("failpoints");
        WriteAtomically(file, "fp.file.hang=hang\n");
        Failpoints.Configure(null, file);

        var hit = Failpoints.HitAsync("fp.file.hang").AsTask();
        await AssertStillHangingAsync(hit);
        WriteAtomically(file, "# released\nfp.file.error=error(FERRY:Storage:Unavailable)*1\n");
        await hit.WaitAsync(Deadline);

        // The file now arms another point: it fails once, then is used up.
        var error = Assert.Throws<FerryException>(() => Failpoints.Hit("fp.file.error"));
        Assert.Same(ErrorCodes.StorageUnavailable, error.Code);
        Failpoints.Hit("fp.file.error");
        Failpoints.Hit("fp.file.hang");
    }

    [Fact]
    public async Task File_ArmedLater_TakesEffectOnAHitAfterTheCheckInterval()
    {
        var file = _temp.File("failpoints");
        Failpoints.Configure(null, file);
        Failpoints.Hit("fp.file.late");

        WriteAtomically(file, "fp.file.late=error(FERRY:Storage:QuotaExceeded)");

        var error = await PollAsync(() =>
        {
            try
            {
                Failpoints.Hit("fp.file.late");
                return null;
            }
            catch (FerryException e)
            {
                return e;
            }
        });
        Assert.Same(ErrorCodes.StorageQuotaExceeded, error.Code);
    }

    [Fact]
    public async Task File_RewrittenWithAnotherEntry_KeepsUnchangedEntriesArmedWithTheirCounts()
    {
        var file = _temp.File("failpoints");
        WriteAtomically(file, "fp.keep.hang=hang\nfp.keep.count=error(FERRY:Storage:Unavailable)*2\n");
        Failpoints.Configure(null, file);
        Assert.Throws<FerryException>(() => Failpoints.Hit("fp.keep.count"));
        var hit = Failpoints.HitAsync("fp.keep.hang").AsTask();

        WriteAtomically(file, "fp.keep.hang=hang\nfp.keep.count=error(FERRY:Storage:Unavailable)*2\nfp.keep.new=error(FERRY:Storage:QuotaExceeded)\n");
        await PollAsync(() => Failpoints.IsArmed("fp.keep.new") ? "armed" : null);

        await AssertStillHangingAsync(hit);
        Assert.Throws<FerryException>(() => Failpoints.Hit("fp.keep.count"));
        Failpoints.Hit("fp.keep.count");
        Assert.True(Failpoints.Disarm("fp.keep.hang"));
        await hit.WaitAsync(Deadline);
    }

    [Fact]
    public async Task File_OffEntry_OverridesAHangArmedByTheEnvironment()
    {
        var file = _temp.File("failpoints");
        Failpoints.Configure("fp.env.hang=hang", file);

        var hit = Task.Run(() => Failpoints.Hit("fp.env.hang"));
        await AssertStillHangingAsync(hit);
        WriteAtomically(file, "fp.env.hang=off");

        await hit.WaitAsync(Deadline);
        Failpoints.Hit("fp.env.hang");
    }

    [Fact]
    public void File_MalformedAtStartUp_ThrowsInvalidFailpointsNamingTheFile()
    {
        var file = _temp.File("failpoints");
        File.WriteAllText(file, "fp.bad=explode");

        var error = Assert.Throws<FerryException>(() => Failpoints.Configure(null, file));

        Assert.Same(ErrorCodes.ConfigInvalidFailpoints, error.Code);
        Assert.Contains(file, error.Message);
    }

    /// <summary>A hang must not finish on its own; a short grace period is the only way to observe "not yet".</summary>
    private static async Task AssertStillHangingAsync(Task hit)
    {
        var done = await Task.WhenAny(hit, Task.Delay(TimeSpan.FromMilliseconds(150)));
        Assert.NotSame(hit, done);
    }

    private static async Task<T> PollAsync<T>(Func<T?> probe)
        where T : class
    {
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < Deadline)
        {
            if (probe() is { } result) return result;
            await Task.Delay(20);
        }

        throw new TimeoutException($"condition not met within {Deadline}");
    }

    /// <summary>Write then rename, as a test driving a child process should, so a reader never sees half a file.</summary>
    private static void WriteAtomically(string path, string text)
    {
        var temp = path + ".tmp";
        File.WriteAllText(temp, text);
        File.Move(temp, path, overwrite: true);
    }
}
