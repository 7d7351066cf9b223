using System.Diagnostics;
using System.Text.Json;
using Ferry.TestKit;
using Ferry.TestKit.Cli;

namespace Ferry.IntegrationTests.Agent;

/// <summary>Runs a system command (mount, chattr, sqlite3) and fails with its output when it does not exit 0.</summary>
internal static class Sh
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    public static async Task<string> RunAsync(string binary, params string[] args)
    {
        var path = Tools.Find(binary) ?? throw new InvalidOperationException($"{binary} is not on PATH; these tests need it (they are never skipped)");
        var (exitCode, output) = await Tools.RunAsync(path, args, Deadline);
        if (exitCode != 0) throw new InvalidOperationException($"{binary} {string.Join(' ', args)} exited {exitCode}: {output}");
        return output;
    }

    public static void RunSync(string binary, params string[] args) => RunAsync(binary, args).GetAwaiter().GetResult();
}

/// <summary>
/// A small tmpfs mounted on a fresh directory: storage that really runs out of space (ENOSPC). Needs root.
/// Disposing unmounts it (lazily if something still holds it) and removes the directory, whatever the test did.
/// </summary>
internal sealed class TmpfsMount : IDisposable
{
    private TmpfsMount(string path) => Path = path;

    public string Path { get; }

    public static async Task<TmpfsMount> MountAsync(string path, string size)
    {
        Directory.CreateDirectory(path);
        await Sh.RunAsync("mount", "-t", "tmpfs", "-o", $"size={size},mode=0755", "tmpfs", path);
        return new TmpfsMount(path);
    }

    /// <summary>Grows (or shrinks) the mounted file system in place; what is on it stays.</summary>
    public Task ResizeAsync(string size) => Sh.RunAsync("mount", "-o", $"remount,size={size}", Path);

    public void Dispose()
    {
        try
        {
            Sh.RunSync("umount", Path);
        }
        catch (InvalidOperationException)
        {
            // Something (a process the test failed to stop) still has a file open: detach it anyway, never leak a mount.
            Sh.RunSync("umount", "-l", Path);
        }

        Directory.Delete(Path);
    }
}

/// <summary>
/// <c>chattr -R +i</c> on a directory tree: nothing can be created, written or removed in it, not even by root
/// (EPERM). Disposing always runs <c>chattr -R -i</c>, so the tree can be deleted whatever the test did.
/// </summary>
internal sealed class ImmutableTree(string path) : IDisposable
{
    public string Path { get; } = path;

    public Task SetAsync() => Sh.RunAsync("chattr", "-R", "+i", Path);

    public Task ClearAsync() => Sh.RunAsync("chattr", "-R", "-i", Path);

    public void Dispose()
    {
        if (Directory.Exists(Path)) Sh.RunSync("chattr", "-R", "-i", Path);
    }
}

/// <summary>One task's status as <c>ferry task status NAME --json</c> shows it, with this store's part.</summary>
internal sealed record TaskView(string Status, string? PauseCode, string? StoreState, long? Checkpoint, string? ErrorCode, string Json)
{
    public static TaskView Parse(string json, long storeId)
    {
        using var doc = JsonDocument.Parse(json);
        var task = doc.RootElement.GetProperty("tasks")[0];
        var pause = task.GetProperty("pause");
        var store = task.GetProperty("stores").EnumerateArray().FirstOrDefault(s => s.GetProperty("store_id").GetInt64() == storeId);
        var found = store.ValueKind == JsonValueKind.Object;
        var lastError = found ? store.GetProperty("last_error") : default;
        return new TaskView(
            task.GetProperty("status").GetString()!,
            pause.ValueKind == JsonValueKind.Object ? pause.GetProperty("error_code").GetString() : null,
            found ? store.GetProperty("state").GetString() : null,
            found && store.GetProperty("checkpoint").ValueKind == JsonValueKind.Number ? store.GetProperty("checkpoint").GetInt64() : null,
            lastError.ValueKind == JsonValueKind.Object ? lastError.GetProperty("error_code").GetString() : null,
            json);
    }

    /// <summary>Running on this store with every commit up to <paramref name="committedAt"/> (unix ms) durable in storage.</summary>
    public bool CoversCommit(long committedAt) =>
        Status == "RUNNING" && StoreState == "RUNNING" && Checkpoint is { } checkpoint && checkpoint >= committedAt;
}

/// <summary>What the agent fault tests share: the CLI against one etcd, status polling with a deadline, dumps.</summary>
internal sealed class AgentHarness(string metaUrl, string home, long storeId)
{
    public static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    public long StoreId => storeId;

    public Task<CliResult> FerryAsync(params string[] args) => FerryCli.RunAsync([.. args, "--meta", metaUrl], home);

    public async Task StartTaskAsync(string task, string databases, string storage, params string[] options)
    {
        var started = await FerryAsync(["task", "start", task, "--db", databases, "--to", storage, "--flush-interval", "200ms", .. options]);
        Assert.True(started.ExitCode == 0, started.ToString());
    }

    /// <summary>Removes tasks (those that exist); for cleanup, so it never fails.</summary>
    public async Task RemoveTasksAsync(params string[] tasks)
    {
        foreach (var task in tasks) await FerryAsync("task", "stop", task);
    }

    public async Task<TaskView> StatusAsync(string task)
    {
        var status = await FerryAsync("task", "status", task, "--json");
        Assert.True(status.ExitCode == 0, status.ToString());
        return TaskView.Parse(status.Stdout, storeId);
    }

    /// <summary>Polls the task's status until <paramref name="condition"/> holds; fails with the last status and the agent's log.</summary>
    public async Task<TaskView> WaitForStatusAsync(string task, Func<TaskView, bool> condition, string what, AgentProcess agent, TimeSpan? deadline = null)
    {
        var watch = Stopwatch.StartNew();
        while (true)
        {
            var view = await StatusAsync(task);
            if (condition(view)) return view;
            if (watch.Elapsed > (deadline ?? Deadline))
            {
                Assert.Fail($"timed out after {watch.Elapsed.TotalSeconds:0.0} s waiting for {what}; last status:\n{view.Json}\nagent log:\n{agent.Log}");
            }

            await Task.Delay(50);
        }
    }

    public static async Task WaitForAsync(Func<Task<bool>> condition, string what, AgentProcess agent, TimeSpan? deadline = null)
    {
        var watch = Stopwatch.StartNew();
        while (!await condition())
        {
            if (watch.Elapsed > (deadline ?? Deadline)) Assert.Fail($"timed out after {watch.Elapsed.TotalSeconds:0.0} s waiting for {what}; agent log:\n{agent.Log}");
            await Task.Delay(50);
        }
    }

    /// <summary>The value of <c>ferry_errors_total</c> for this code and task, whatever the label order; null when absent.</summary>
    public static async Task<double?> ErrorsTotalAsync(AgentProcess agent, string code, string task)
    {
        foreach (var line in (await agent.MetricsAsync()).Split('\n'))
        {
            if (line.StartsWith("ferry_errors_total{", StringComparison.Ordinal)
                && line.Contains($"code=\"{code}\"", StringComparison.Ordinal)
                && line.Contains($"task=\"{task}\"", StringComparison.Ordinal))
            {
                return double.Parse(line[(line.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture);
            }
        }

        return null;
    }

    /// <summary>Restores <paramref name="database"/> from <paramref name="storage"/> and asserts its <c>sqlite3 .dump</c> equals the source's.</summary>
    public Task AssertRestoreMatchesAsync(string storage, string source, string restoredPath) =>
        StorageChecks.AssertRestoreMatchesAsync(storage, source, restoredPath, home);
}
