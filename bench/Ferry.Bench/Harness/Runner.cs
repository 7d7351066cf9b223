using System.Diagnostics;

namespace Ferry.Bench.Harness;

/// <summary>Runs an operation a fixed number of times with a fixed number in flight, after a warm-up.</summary>
public static class Runner
{
    /// <summary>
    /// Runs <paramref name="warmup"/> operations (discarded), then exactly <paramref name="ops"/> measured ones, with
    /// <paramref name="concurrency"/> workers each awaiting one operation at a time. The operation gets the worker
    /// number (0..concurrency-1, for per-worker state) and a running index (0..ops-1, unique per run).
    /// </summary>
    public static async Task<Measurement> MeasureAsync(
        string label,
        int concurrency,
        int warmup,
        int ops,
        Func<int, int, CancellationToken, Task> operation,
        CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(concurrency, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(ops, 1);
        ArgumentNullException.ThrowIfNull(operation);

        if (warmup > 0) await RunAsync(concurrency, warmup, operation, latencies: null, cancellationToken);

        // A collection now rather than in the middle of the measured run.
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();

        var latencies = new long[ops];
        var wall = Stopwatch.StartNew();
        await RunAsync(concurrency, ops, operation, latencies, cancellationToken);
        wall.Stop();
        return new Measurement(label, concurrency, latencies, wall.Elapsed);
    }

    private static async Task RunAsync(
        int concurrency, int ops, Func<int, int, CancellationToken, Task> operation, long[]? latencies, CancellationToken cancellationToken)
    {
        var next = -1;
        var workers = new Task[concurrency];
        for (var w = 0; w < concurrency; w++)
        {
            var worker = w;
            workers[w] = Task.Run(
                async () =>
                {
                    int index;
                    while ((index = Interlocked.Increment(ref next)) < ops)
                    {
                        cancellationToken.ThrowIfCancellationRequested();
                        var start = Stopwatch.GetTimestamp();
                        await operation(worker, index, cancellationToken);
                        if (latencies is not null) latencies[index] = Stopwatch.GetTimestamp() - start;
                    }
                },
                cancellationToken);
        }

        await Task.WhenAll(workers);
    }
}
