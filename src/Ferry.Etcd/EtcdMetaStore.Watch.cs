using System.Diagnostics;
using System.Runtime.CompilerServices;
using Ferry.Errors;
using Ferry.Etcd.Internal;
using Ferry.Meta;
using Grpc.Core;
using Rpc = Etcdserverpb;

namespace Ferry.Etcd;

public sealed partial class EtcdMetaStore
{
    /// <summary>
    /// Streams changes under <paramref name="prefix"/> from <paramref name="fromRevision"/> on. The watch runs on its
    /// own stream, which this method reopens from the last delivered revision + 1 when it breaks (etcd down, or a
    /// connection that HTTP/2 pings found dead), so no event is lost or repeated. It fails with the last error once reopening has failed
    /// for longer than <see cref="EtcdMetaStoreOptions.WatchReconnectBudget"/>, with <c>FERRY:Meta:Compacted</c> when
    /// the revision to resume from is compacted away, and ends without an error when the caller cancels.
    /// </summary>
    public async IAsyncEnumerable<WatchEvent> WatchAsync(
        string prefix,
        long fromRevision,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _disposing.Token);
        var context = Context($"watch {prefix}");
        var next = fromRevision;
        var attempt = 0;
        var renewed = false;
        long? failingSince = null;
        while (true)
        {
            FerryException error;
            WatchSession? session = null;
            var token = Volatile.Read(ref _token);
            try
            {
                session = await WatchSession.OpenAsync(this, prefix, next, stop.Token);
                error = new FerryException(ErrorCodes.MetaUnavailable, "etcd ended the watch stream", context);
            }
            catch (Exception e) when (!renewed && _credentials.UsesLogin && EtcdErrorClassifier.IsStaleWatchToken(e))
            {
                // A reopened stream carries the token of its first opening, which etcd forgets when it restarts; it
                // refuses such a watch as "permission denied". Log in again and reopen at once, once.
                renewed = true;
                var failed = await RenewWatchTokenAsync(token, cancellationToken, context);
                if (failed is null) continue;
                error = failed;
            }
            catch (Exception e)
            {
                error = EtcdErrorClassifier.Classify(e, cancellationToken, context);
            }

            if (session is not null)
            {
                await using (session)
                {
                    while (true)
                    {
                        IReadOnlyList<WatchEvent>? batch;
                        try
                        {
                            batch = await session.ReadAsync(stop.Token);
                        }
                        catch (Exception e)
                        {
                            error = EtcdErrorClassifier.Classify(e, cancellationToken, context);
                            break;
                        }

                        if (batch is null) break;
                        attempt = 0;
                        renewed = false;
                        failingSince = null;
                        foreach (var change in batch)
                        {
                            next = change.Kv.ModRevision + 1;
                            yield return change;
                        }
                    }
                }
            }

            if (cancellationToken.IsCancellationRequested) yield break;
            if (_disposing.IsCancellationRequested) throw new FerryException(ErrorCodes.Cancelled, "the metadata store was closed", context, error);
            if (error.Class != ErrorClass.Transient) throw error;

            failingSince ??= Stopwatch.GetTimestamp();
            if (Stopwatch.GetElapsedTime(failingSince.Value) > _options.WatchReconnectBudget) throw error;
            try
            {
                await Task.Delay(Backoff(attempt++), stop.Token);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                // The caller stopped watching while we waited to reconnect: that ends the watch, not an error.
                yield break;
            }
            catch (OperationCanceledException cancelled)
            {
                throw new FerryException(ErrorCodes.Cancelled, "the metadata store was closed", context, cancelled);
            }
        }
    }

    /// <summary>Logs in again for the watch within one call deadline: null when done, else why not.</summary>
    private async Task<FerryException?> RenewWatchTokenAsync(string? stale, CancellationToken cancellationToken, ErrorContext context)
    {
        using var scope = new CallScope(this, cancellationToken);
        try
        {
            await AuthenticateAsync(stale, scope.DeadlineUtc, scope.Token);
            return null;
        }
        catch (Exception e)
        {
            return EtcdErrorClassifier.Classify(e, cancellationToken, context);
        }
    }

    /// <summary>One watch stream: created, confirmed by etcd, then read response by response.</summary>
    private sealed class WatchSession : IAsyncDisposable
    {
        private readonly AsyncDuplexStreamingCall<Rpc.WatchRequest, Rpc.WatchResponse> _call;

        private WatchSession(AsyncDuplexStreamingCall<Rpc.WatchRequest, Rpc.WatchResponse> call) => _call = call;

        /// <summary>Opens the stream and waits, within the call deadline, for etcd to confirm the watch.</summary>
        public static async Task<WatchSession> OpenAsync(EtcdMetaStore store, string prefix, long fromRevision, CancellationToken cancellationToken)
        {
            // No gRPC deadline: the stream lives as long as the watch. Its token is the watch's.
            var call = store._connection.WatchClient.Watch(null, null, cancellationToken);
            var session = new WatchSession(call);
            try
            {
                using var confirm = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                confirm.CancelAfter(store._options.CallTimeout);
                var create = new Rpc.WatchCreateRequest
                {
                    Key = EtcdMapping.Key(prefix),
                    RangeEnd = EtcdMapping.PrefixEnd(prefix),
                    StartRevision = fromRevision,
                };
                await call.RequestStream.WriteAsync(new Rpc.WatchRequest { CreateRequest = create }, confirm.Token);
                if (!await call.ResponseStream.MoveNext(confirm.Token))
                {
                    throw new FerryException(ErrorCodes.MetaUnavailable, "etcd closed the watch stream before confirming the watch");
                }

                var response = call.ResponseStream.Current;
                store.Observe(response.Header);
                ThrowIfCancelled(response);
                if (!response.Created)
                {
                    throw new FerryException(ErrorCodes.Internal, "etcd answered a watch request without confirming it");
                }

                return session;
            }
            catch (Exception)
            {
                await session.DisposeAsync();
                throw;
            }
        }

        /// <summary>The next changes in revision order (possibly none); null when etcd ended the stream.</summary>
        public async Task<IReadOnlyList<WatchEvent>?> ReadAsync(CancellationToken cancellationToken)
        {
            if (!await _call.ResponseStream.MoveNext(cancellationToken)) return null;
            var response = _call.ResponseStream.Current;
            ThrowIfCancelled(response);
            var events = new List<WatchEvent>(response.Events.Count);
            foreach (var e in response.Events)
            {
                var type = e.Type == Mvccpb.Event.Types.EventType.Delete ? WatchEventType.Delete : WatchEventType.Put;
                events.Add(new WatchEvent(type, EtcdMapping.ToKeyValue(e.Kv)));
            }

            return events;
        }

        public ValueTask DisposeAsync()
        {
            // Disposing the call cancels it on the server too.
            _call.Dispose();
            return ValueTask.CompletedTask;
        }

        private static void ThrowIfCancelled(Rpc.WatchResponse response)
        {
            if (!response.Canceled) return;
            if (response.CompactRevision > 0)
            {
                throw new FerryException(
                    ErrorCodes.MetaCompacted,
                    $"the watch's start revision was compacted away (oldest available: {response.CompactRevision}); re-read the current state and watch from there");
            }

            if (response.CancelReason.Contains("permission denied", StringComparison.OrdinalIgnoreCase))
            {
                throw new FerryException(ErrorCodes.MetaPermissionDenied, $"etcd refused the watch: {response.CancelReason}");
            }

            // etcd cancels watches it can't serve any more (e.g. shutting down); reopening is the answer.
            throw new FerryException(ErrorCodes.MetaUnavailable, $"etcd cancelled the watch: {response.CancelReason}");
        }
    }
}
