using System.Diagnostics;

namespace Ferry.TestKit.Etcd;

/// <summary>
/// Runs Debian's <c>etcdctl</c> (API v3) against a test server, so tests can write and read keys the way an
/// operator would, without going through Ferry's own client.
/// </summary>
public static class Etcdctl
{
    public static Task<string> PutAsync(EtcdServer server, string key, string value) => RunAsync(server, "put", key, value);

    /// <summary>The value of <paramref name="key"/>, or null when it is absent.</summary>
    public static async Task<string?> GetAsync(EtcdServer server, string key)
    {
        var output = await RunAsync(server, "get", key, "--print-value-only");
        return output.Length == 0 ? null : output.TrimEnd('\n');
    }

    public static async Task<string> RunAsync(EtcdServer server, params string[] args)
    {
        ArgumentNullException.ThrowIfNull(server);
        var info = new ProcessStartInfo("etcdctl")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.Environment["ETCDCTL_API"] = "3";
        info.ArgumentList.Add($"--endpoints={server.Endpoint}");
        info.ArgumentList.Add("--dial-timeout=2s");
        info.ArgumentList.Add("--command-timeout=5s");
        foreach (var arg in args) info.ArgumentList.Add(arg);
        using var process = Process.Start(info) ?? throw new InvalidOperationException("could not start etcdctl");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        await process.WaitForExitAsync(deadline.Token);
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"etcdctl {string.Join(' ', args)} exited {process.ExitCode}: {await stderr}");
        }

        return await stdout;
    }
}
