using System.Diagnostics.Metrics;
using System.Text;
using Ferry.Diagnostics;
using Ferry.Errors;
using Ferry.Storage;
using Ferry.TestKit;

namespace Ferry.Tests.Storage;

public sealed class CountedStorageTests : IDisposable
{
    private readonly TempDirectory _dir = new("counted-storage");
    private readonly FerryMetrics _metrics = new();
    private readonly MeterListener _listener = new();
    private readonly List<(long Value, string Keys, string Op, string Outcome, string Task)> _requests = [];

    public CountedStorageTests()
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            // Only this test's instance: other tests create their own meters named Ferry.
            if (ReferenceEquals(instrument.Meter, _metrics.Meter) && instrument.Name == "ferry_storage_requests_total") listener.EnableMeasurementEvents(instrument);
        };
        _listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            var byKey = tags.ToArray().ToDictionary(t => t.Key, t => t.Value?.ToString() ?? "");
            lock (_requests) _requests.Add((value, string.Join(',', byKey.Keys.Order(StringComparer.Ordinal)), byKey.GetValueOrDefault("op", ""), byKey.GetValueOrDefault("outcome", ""), byKey.GetValueOrDefault("task", "")));
        });
        _listener.Start();
    }

    public void Dispose()
    {
        _listener.Dispose();
        _metrics.Dispose();
        _dir.Dispose();
    }

    private static MemoryStream Content(string text) => new(Encoding.UTF8.GetBytes(text));

    /// <summary>Every request counted so far, each checked to be one increment tagged op, outcome and task only.</summary>
    private List<(string Op, string Outcome, string Task)> Requests()
    {
        lock (_requests)
        {
            Assert.All(_requests, r => Assert.Equal((1L, "op,outcome,task"), (r.Value, r.Keys)));
            return [.. _requests.Select(r => (r.Op, r.Outcome, r.Task))];
        }
    }

    [Fact]
    public async Task EveryOperation_OnFileStorage_CountedOnceByOpWithTheTaskAndResultsPassedThrough()
    {
        await using var storage = new CountedStorage(new FileStorage(_dir.Path), _metrics, "t1");

        Assert.True(await storage.PutIfAbsentAsync("a/one", Content("hello")));
        Assert.False(await storage.PutIfAbsentAsync("a/one", Content("other")));
        await using (var read = await storage.TryOpenReadAsync("a/one"))
        {
            Assert.NotNull(read);
            using var text = new StreamReader(read);
            Assert.Equal("hello", await text.ReadToEndAsync());
        }

        Assert.Null(await storage.TryOpenReadAsync("a/missing"));
        var listed = Assert.Single(await storage.ListAsync("a/"));
        Assert.Equal(("a/one", 5L), (listed.Name, listed.Size));
        Assert.True(await storage.DeleteAsync("a/one"));
        Assert.False(await storage.DeleteAsync("a/one"));

        Assert.Equal(
            [("put", "ok", "t1"), ("put", "ok", "t1"), ("get", "ok", "t1"), ("get", "ok", "t1"), ("list", "ok", "t1"), ("delete", "ok", "t1"), ("delete", "ok", "t1")],
            Requests());
        Assert.Equal(new FileStorage(_dir.Path).Description, storage.Description);
    }

    [Fact]
    public async Task Failure_OfEachOperation_RethrowsTheSameExceptionAndCountsAnError()
    {
        var failure = new FerryException(ErrorCodes.StorageUnavailable, "storage refused", new ErrorContext(Operation: "test"));
        var inner = new ScriptedStorage { Fail = failure };
        var storage = new CountedStorage(inner, _metrics, "t2");

        Assert.Same(failure, await Assert.ThrowsAsync<FerryException>(() => storage.PutIfAbsentAsync("x", Content("x"))));
        Assert.Same(failure, await Assert.ThrowsAsync<FerryException>(() => storage.TryOpenReadAsync("x")));
        Assert.Same(failure, await Assert.ThrowsAsync<FerryException>(() => storage.ListAsync("")));
        Assert.Same(failure, await Assert.ThrowsAsync<FerryException>(() => storage.DeleteAsync("x")));

        Assert.Equal([("put", "error", "t2"), ("get", "error", "t2"), ("list", "error", "t2"), ("delete", "error", "t2")], Requests());
    }

    [Fact]
    public async Task NonFerryException_ThrownSynchronouslyByTheInnerStorage_SameExceptionReachesTheCaller()
    {
        var bug = new InvalidOperationException("a bug in the storage");
        var storage = new CountedStorage(new ScriptedStorage { Fail = bug, FailSynchronously = true }, _metrics, "t3");

        Assert.Same(bug, await Assert.ThrowsAsync<InvalidOperationException>(() => storage.ListAsync("p/")));
        Assert.Equal([("list", "error", "t3")], Requests());
    }

    [Fact]
    public async Task CancelledByTheCaller_CountedAsCancelledNotAsAnError()
    {
        await using var storage = new CountedStorage(new FileStorage(_dir.Path), _metrics, "t4");
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();

        var error = await Assert.ThrowsAsync<FerryException>(() => storage.PutIfAbsentAsync("c/o", Content("x"), cancelled.Token));

        Assert.Equal(ErrorClass.Cancelled, error.Class);
        Assert.Equal([("put", "cancelled", "t4")], Requests());
    }

    [Fact]
    public async Task DeadlineFiredInside_CallerDidNotCancel_CountedAsAnError()
    {
        // A deadline of the storage's own surfaces as a cancellation the caller never asked for: that is a timeout.
        var deadline = new OperationCanceledException("the storage's own deadline fired");
        var storage = new CountedStorage(new ScriptedStorage { Fail = deadline }, _metrics, "t5");
        using var caller = new CancellationTokenSource();

        Assert.Same(deadline, await Assert.ThrowsAsync<OperationCanceledException>(() => storage.TryOpenReadAsync("x", caller.Token)));
        Assert.Equal([("get", "error", "t5")], Requests());
    }

    [Fact]
    public async Task DisposeAsync_DisposesTheInnerStorageAndCountsNothing()
    {
        var inner = new ScriptedStorage();
        var storage = new CountedStorage(inner, _metrics, "t6");

        await storage.DisposeAsync();

        Assert.True(inner.Disposed);
        Assert.Equal("scripted://", storage.Description);
        Assert.Empty(Requests());
    }

    /// <summary>Storage whose every operation fails with <see cref="Fail"/> (when set), for the paths a real one can't be made to take on demand.</summary>
    private sealed class ScriptedStorage : IObjectStorage
    {
        public Exception? Fail { get; init; }

        public bool FailSynchronously { get; init; }

        public bool Disposed { get; private set; }

        public string Description => "scripted://";

        public Task<bool> PutIfAbsentAsync(string name, Stream content, CancellationToken cancellationToken = default) => Answer(true);

        public Task<Stream?> TryOpenReadAsync(string name, CancellationToken cancellationToken = default) => Answer<Stream?>(null);

        public Task<IReadOnlyList<ObjectInfo>> ListAsync(string prefix, CancellationToken cancellationToken = default) => Answer<IReadOnlyList<ObjectInfo>>([]);

        public Task<bool> DeleteAsync(string name, CancellationToken cancellationToken = default) => Answer(true);

        public ValueTask DisposeAsync()
        {
            Disposed = true;
            return ValueTask.CompletedTask;
        }

        private Task<T> Answer<T>(T value)
        {
            if (Fail is null) return Task.FromResult(value);
            if (FailSynchronously) throw Fail;
            return Task.FromException<T>(Fail);
        }
    }
}
