using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace Ferry.TestKit.Etcd;

/// <summary>One change etcd reported: a put (with the value written) or a delete, and when this test process read it.</summary>
public sealed record EtcdEvent(bool IsDelete, EtcdKey Kv, DateTimeOffset ReceivedAt)
{
    public string Key => Kv.Key;

    public override string ToString() =>
        $"{(IsDelete ? "DELETE" : "PUT")} {Kv.Key} @{Kv.ModRevision} (seen {ReceivedAt:HH:mm:ss.fff}){(IsDelete ? "" : ": " + Kv.Value)}";
}

/// <summary>
/// A running <c>etcdctl watch --prefix</c> (API v3, JSON output) against a test server: every put and delete under the
/// prefix from a revision on, in revision order, each stamped with the time this process read it. It shows the
/// history of the keys (what was written, by revision) independently of Ferry's own client, and, by the stamps,
/// about when each write happened. Disposing kills etcdctl.
/// </summary>
public sealed class EtcdWatch : IAsyncDisposable
{
    private readonly Process _process;
    private readonly List<EtcdEvent> _events = [];
    private readonly Task _stdout;
    private readonly Task<string> _stderr;

    private EtcdWatch(Process process)
    {
        _process = process;
        _stdout = PumpAsync(process.StandardOutput);
        _stderr = process.StandardError.ReadToEndAsync();
    }

    /// <summary>What was seen so far, in revision order.</summary>
    public IReadOnlyList<EtcdEvent> Events
    {
        get
        {
            lock (_events) return [.. _events];
        }
    }

    /// <summary>Starts watching <paramref name="prefix"/> from <paramref name="fromRevision"/> (0: from now on).</summary>
    public static EtcdWatch Start(EtcdServer server, string prefix, long fromRevision = 0)
    {
        ArgumentNullException.ThrowIfNull(server);
        var info = Etcdctl.StartInfo(server, ["watch", "--prefix", prefix]);
        if (fromRevision > 0) info.ArgumentList.Add("--rev=" + fromRevision.ToString(CultureInfo.InvariantCulture));
        info.ArgumentList.Add("-w");
        info.ArgumentList.Add("json");
        return new EtcdWatch(Process.Start(info) ?? throw new InvalidOperationException("could not start etcdctl watch"));
    }

    /// <summary>The first event (seen already or still to come) that matches; fails after <paramref name="deadline"/>.</summary>
    public async Task<EtcdEvent> WaitForAsync(Func<EtcdEvent, bool> match, string what, TimeSpan deadline)
    {
        ArgumentNullException.ThrowIfNull(match);
        var watch = Stopwatch.StartNew();
        while (true)
        {
            var found = Events.FirstOrDefault(match);
            if (found is not null) return found;
            if (_process.HasExited)
            {
                await _stdout.ConfigureAwait(false);
                throw new InvalidOperationException($"etcdctl watch exited {_process.ExitCode} before {what}: {await _stderr.ConfigureAwait(false)}");
            }

            if (watch.Elapsed > deadline)
            {
                throw new TimeoutException($"no etcd event for {what} within {deadline}; seen:\n{string.Join('\n', Events)}");
            }

            await Task.Delay(20).ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync().ConfigureAwait(false);
        await Task.WhenAll(_stdout, _stderr).ConfigureAwait(false);
        _process.Dispose();
    }

    /// <summary>etcdctl prints one JSON watch response per line; each holds one or more events.</summary>
    private async Task PumpAsync(StreamReader reader)
    {
        while (await reader.ReadLineAsync().ConfigureAwait(false) is { } line)
        {
            var receivedAt = DateTimeOffset.UtcNow;
            if (!line.StartsWith('{')) continue;
            using var response = JsonDocument.Parse(line);
            if (!response.RootElement.TryGetProperty("Events", out var events) || events.ValueKind != JsonValueKind.Array) continue;
            lock (_events)
            {
                foreach (var change in events.EnumerateArray())
                {
                    // etcd's mvccpb.Event: type 0 (omitted) is PUT, 1 is DELETE.
                    var isDelete = change.TryGetProperty("type", out var type) && type.GetInt32() == 1;
                    _events.Add(new EtcdEvent(isDelete, EtcdKey.Parse(change.GetProperty("kv")), receivedAt));
                }
            }
        }
    }
}
