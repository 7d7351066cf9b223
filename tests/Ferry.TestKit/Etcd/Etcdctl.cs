using System.Diagnostics;
using System.Text;
using System.Text.Json;

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

    /// <summary>
    /// <paramref name="key"/> as etcd holds it, with its revisions and lease (<c>etcdctl get -w json</c>), or null
    /// when it is absent.
    /// </summary>
    public static async Task<EtcdKey?> GetKeyAsync(EtcdServer server, string key)
    {
        using var doc = JsonDocument.Parse(await RunAsync(server, "get", key, "-w", "json"));
        return doc.RootElement.TryGetProperty("kvs", out var kvs) && kvs.GetArrayLength() > 0 ? EtcdKey.Parse(kvs[0]) : null;
    }

    /// <summary>The store's current revision: every write so far has a revision at or below it.</summary>
    public static async Task<long> RevisionAsync(EtcdServer server)
    {
        using var doc = JsonDocument.Parse(await RunAsync(server, "get", "/", "--prefix", "--keys-only", "--limit=1", "-w", "json"));
        return doc.RootElement.GetProperty("header").GetProperty("revision").GetInt64();
    }

    /// <summary>An etcdctl (API v3) invocation against <paramref name="server"/>, its output redirected.</summary>
    public static ProcessStartInfo StartInfo(EtcdServer server, IEnumerable<string> args)
    {
        ArgumentNullException.ThrowIfNull(server);
        ArgumentNullException.ThrowIfNull(args);
        var info = new ProcessStartInfo("etcdctl")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.Environment["ETCDCTL_API"] = "3";
        info.ArgumentList.Add($"--endpoints={server.Endpoint}");
        if (server.Tls is { } tls)
        {
            info.ArgumentList.Add($"--cacert={tls.CaFile}");
            info.ArgumentList.Add($"--cert={tls.ClientCertFile}");
            info.ArgumentList.Add($"--key={tls.ClientKeyFile}");
        }

        if (server.EtcdctlLogin is { } login) info.ArgumentList.Add($"--user={login}");
        info.ArgumentList.Add("--dial-timeout=2s");
        foreach (var arg in args) info.ArgumentList.Add(arg);
        return info;
    }

    public static async Task<string> RunAsync(EtcdServer server, params string[] args)
    {
        ArgumentNullException.ThrowIfNull(server);
        var info = StartInfo(server, ["--command-timeout=5s", .. args]);
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

/// <summary>One key as etcd reports it in JSON: key and value decoded from base64, revisions, lease id (0 for none).</summary>
public sealed record EtcdKey(string Key, string? Value, long CreateRevision, long ModRevision, long Lease)
{
    /// <summary>Reads a <c>kv</c> object of <c>etcdctl get</c> or <c>etcdctl watch</c> JSON output.</summary>
    public static EtcdKey Parse(JsonElement kv)
    {
        static long Number(JsonElement kv, string name) => kv.TryGetProperty(name, out var n) ? n.GetInt64() : 0;
        static string Text(string base64) => Encoding.UTF8.GetString(Convert.FromBase64String(base64));
        return new EtcdKey(
            Text(kv.GetProperty("key").GetString()!),
            kv.TryGetProperty("value", out var value) ? Text(value.GetString()!) : null,
            Number(kv, "create_revision"),
            Number(kv, "mod_revision"),
            Number(kv, "lease"));
    }
}
