using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Ferry.Meta;

namespace Ferry.TestKit.Meta;

/// <summary>
/// Increments a counter key with compare-and-swap, re-reading on every lost race. Runs in this process
/// (<see cref="IncrementAsync"/>) or in a separate one (<see cref="Start"/>, the Ferry.MetaRacer program),
/// so a test can race two processes on one key.
/// </summary>
public static class MetaRacer
{
    public sealed record Outcome(int Increments, int Conflicts);

    public static async Task<Outcome> IncrementAsync(IMetaStore store, string key, int count, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(store);
        var conflicts = 0;
        for (var done = 0; done < count;)
        {
            var kv = await store.GetAsync(key, cancellationToken) ?? throw new InvalidOperationException($"{key} is missing");
            var next = long.Parse(kv.ValueString, CultureInfo.InvariantCulture) + 1;
            var result = await store.TxnAsync(
                new TxnRequest(
                    [Compare.ModRevisionIs(key, kv.ModRevision)],
                    [TxnOp.Put(key, Encoding.UTF8.GetBytes(next.ToString(CultureInfo.InvariantCulture)))]),
                cancellationToken);
            if (result.Succeeded) done++;
            else conflicts++;
        }

        return new Outcome(count, conflicts);
    }

    /// <summary>
    /// Starts the racer in another process and returns once it is connected and about to run: it writes
    /// <c>{key}/ready</c> and spins until <c>{key}/go</c> exists, which this method writes, so both racers start together.
    /// </summary>
    public static RacerProcess Start(string metaUrl, string key, int count)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "Ferry.MetaRacer.dll");
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(dll);
        info.ArgumentList.Add(metaUrl);
        info.ArgumentList.Add(key);
        info.ArgumentList.Add(count.ToString(CultureInfo.InvariantCulture));
        return new RacerProcess(Process.Start(info) ?? throw new InvalidOperationException("could not start Ferry.MetaRacer"));
    }

    public sealed class RacerProcess : IDisposable
    {
        private readonly Process _process;
        private readonly Task<string> _stdout;
        private readonly Task<string> _stderr;

        internal RacerProcess(Process process)
        {
            _process = process;
            _stdout = process.StandardOutput.ReadToEndAsync();
            _stderr = process.StandardError.ReadToEndAsync();
        }

        public async Task<Outcome> WaitAsync(TimeSpan timeout)
        {
            using var cts = new CancellationTokenSource(timeout);
            await _process.WaitForExitAsync(cts.Token);
            var stdout = await _stdout;
            if (_process.ExitCode != 0)
            {
                throw new InvalidOperationException($"Ferry.MetaRacer exited {_process.ExitCode}: {await _stderr}");
            }

            return JsonSerializer.Deserialize<Outcome>(stdout.Trim().Split('\n')[^1])
                ?? throw new InvalidOperationException($"Ferry.MetaRacer printed nothing usable: {stdout}");
        }

        public void Dispose()
        {
            if (!_process.HasExited) _process.Kill(entireProcessTree: true);
            _process.Dispose();
        }
    }
}
