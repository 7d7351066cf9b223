using System.Diagnostics;
using dotnet_etcd;
using dotnet_etcd.interfaces;
using Ferry.Errors;
using Ferry.Etcd.Internal;
using Ferry.Meta;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;
using Grpc.Net.Client.Balancer;
using Grpc.Net.Client.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Rpc = Etcdserverpb;

namespace Ferry.Etcd;

/// <summary>
/// The metadata store on an etcd cluster (v3 API), over dotnet-etcd's <see cref="EtcdClient"/> on a channel this
/// class owns. Every call has one deadline (<see cref="EtcdMetaStoreOptions.CallTimeout"/>) covering its retries;
/// idempotent calls are retried on transient errors, transactions are read back instead (see <see cref="TxnAsync"/>).
/// <c>https://</c> endpoints use TLS with the CA and client certificate of <see cref="EtcdMetaStoreOptions.Connection"/>;
/// with a user name every call carries an etcd auth token, renewed once per call when etcd no longer knows it (simple
/// tokens expire after etcd's <c>--auth-token-ttl</c> of disuse and on every etcd restart).
/// </summary>
public sealed partial class EtcdMetaStore : IMetaStore
{
    private readonly GrpcChannel _channel;
    private readonly ServiceProvider _channelServices;
    private readonly EtcdClient _client;
    private readonly IConnection _connection;
    private readonly Rpc.Auth.AuthClient _auth;
    private readonly EtcdCredentials _credentials;
    private readonly SemaphoreSlim _authenticating = new(1, 1);
    private readonly EtcdMetaStoreOptions _options;
    private readonly CancellationTokenSource _disposing = new();
    private readonly bool _tls;
    private string? _token;
    private long _lastRevision;
    private int _disposed;

    private EtcdMetaStore(IReadOnlyList<Uri> endpoints, EtcdMetaStoreOptions options, EtcdCredentials credentials)
    {
        _options = options;
        _credentials = credentials;
        var tls = _tls = endpoints[0].Scheme == Uri.UriSchemeHttps;
        Description = (tls ? "https://" : "etcd://") + string.Join(',', endpoints.Select(e => $"{e.Host}:{e.Port}"));

        var addresses = endpoints.Select(e => new BalancerAddress(e.Host, e.Port)).ToArray();
        var services = new ServiceCollection();
        services.AddSingleton<ResolverFactory>(new StaticResolverFactory(_ => addresses));
        _channelServices = services.BuildServiceProvider();

        _channel = GrpcChannel.ForAddress("static:///etcd", new GrpcChannelOptions
        {
            Credentials = tls ? ChannelCredentials.SecureSsl : ChannelCredentials.Insecure,
            ServiceProvider = _channelServices,
            // No retry policy: retries are ours, inside the call's deadline, and only for idempotent calls.
            ServiceConfig = new ServiceConfig { LoadBalancingConfigs = { new RoundRobinConfig() } },
            ThrowOperationCanceledOnCancellation = true,
            // A restarted etcd is found again within a second instead of after a growing backoff.
            InitialReconnectBackoff = TimeSpan.FromMilliseconds(100),
            MaxReconnectBackoff = TimeSpan.FromSeconds(1),
            HttpHandler = new SocketsHttpHandler
            {
                // No connect timeout: Grpc.Net.Client (2.85) applies it to its whole reconnect loop, backoffs
                // included, and ending the loop that way can leave the connection "connecting" with no attempt
                // running, so every call after waits out its deadline long after etcd is back (traced in an agent
                // across a 20 s etcd outage). Each call has its own deadline instead; a connect that hangs is
                // bounded by the kernel's.
                ConnectTimeout = Timeout.InfiniteTimeSpan,
                KeepAlivePingDelay = options.KeepAlivePingInterval,
                KeepAlivePingTimeout = options.KeepAlivePingInterval,
                // etcd closes connections that ping while no call is open.
                KeepAlivePingPolicy = HttpKeepAlivePingPolicy.WithActiveRequests,
                EnableMultipleHttp2Connections = true,
                SslOptions = tls ? credentials.SslOptions() : new(),
            },
            DisposeHttpClient = true,
        });
        var invoker = _channel.CreateCallInvoker();
        // Authenticate goes without a token: etcd refuses even a login that carries one it no longer knows.
        _auth = new Rpc.Auth.AuthClient(invoker);
        _client = new EtcdClient(credentials.UsesLogin ? invoker.Intercept(AddToken) : invoker);
        _connection = _client.GetConnection();
    }

    /// <summary>Credential-free, e.g. <c>etcd://10.0.0.1:2379,10.0.0.2:2379</c> or <c>https://10.0.0.1:2379</c>.</summary>
    public string Description { get; }

    /// <summary>
    /// Opens a store on <paramref name="endpoints"/> (all http://host:port, or all https://host:port for TLS), logs in
    /// when <see cref="EtcdMetaStoreOptions.Connection"/> names a user, and checks that etcd answers a read of Ferry's
    /// prefix within the call deadline. An unreachable cluster gives <c>FERRY:Meta:Unavailable</c> or
    /// <c>FERRY:Meta:Timeout</c>; refused credentials, certificates or roles their own permanent codes.
    /// </summary>
    public static async Task<IMetaStore> ConnectAsync(
        IReadOnlyList<Uri> endpoints,
        EtcdMetaStoreOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        if (endpoints.Count == 0) throw new FerryException(ErrorCodes.ConfigInvalidMetaUrl, "no etcd endpoint given; use etcd://host:port[,host:port…]");
        foreach (var endpoint in endpoints)
        {
            if (endpoint.Scheme is not ("http" or "https") || endpoint.AbsolutePath != "/" || endpoint.UserInfo.Length > 0)
            {
                throw new FerryException(ErrorCodes.ConfigInvalidMetaUrl, $"etcd endpoint '{endpoint.Host}:{endpoint.Port}' must be http://host:port or https://host:port, without user or path");
            }

            if (endpoint.Scheme != endpoints[0].Scheme)
            {
                throw new FerryException(ErrorCodes.ConfigInvalidMetaUrl, "etcd endpoints must all use TLS (https://) or none");
            }
        }

        options ??= new EtcdMetaStoreOptions();
        options.Validate();
        var credentials = EtcdCredentials.Load(options.Connection, endpoints[0].Scheme == Uri.UriSchemeHttps);
        var store = new EtcdMetaStore(endpoints, options, credentials);
        try
        {
            try
            {
                if (credentials.UsesLogin) await store.CallAsync("authenticate", (deadline, token) => store.AuthenticateAsync(null, deadline, token), cancellationToken);

                // A key under Ferry's prefix, which a user limited to it may read: the answer proves the cluster is
                // reachable, has a leader and lets us in.
                await store.GetAsync(MetaKeys.DefaultPrefix + "/", cancellationToken);
            }
            catch (FerryException e) when (e.Code == ErrorCodes.MetaUnavailable && EtcdErrorClassifier.IsHttp2HandshakeFailure(e))
            {
                throw store.HandshakeRefused(e);
            }

            return store;
        }
        catch (Exception)
        {
            await store.DisposeAsync();
            throw;
        }
    }

    public Task<KeyValue?> GetAsync(string key, CancellationToken cancellationToken = default) =>
        CallAsync($"get {key}", async (deadline, token) =>
        {
            var response = await _client.GetAsync(EtcdMapping.Get(key), null, deadline, token);
            Observe(response.Header);
            return response.Kvs.Count == 0 ? null : EtcdMapping.ToKeyValue(response.Kvs[0]);
        }, cancellationToken);

    public Task<RangeResult> RangeAsync(string prefix, CancellationToken cancellationToken = default) =>
        CallAsync($"range {prefix}", async (deadline, token) =>
        {
            var response = await _client.GetAsync(EtcdMapping.Range(prefix), null, deadline, token);
            Observe(response.Header);
            return new RangeResult(response.Kvs.Select(EtcdMapping.ToKeyValue).ToArray(), response.Header.Revision);
        }, cancellationToken);

    public Task<long> PutAsync(string key, ReadOnlyMemory<byte> value, long leaseId = 0, CancellationToken cancellationToken = default) =>
        CallAsync($"put {key}", async (deadline, token) =>
        {
            var response = await _client.PutAsync(EtcdMapping.Put(key, value, leaseId), null, deadline, token);
            Observe(response.Header);
            return response.Header.Revision;
        }, cancellationToken);

    public Task<long> DeleteAsync(string key, CancellationToken cancellationToken = default) =>
        CallAsync($"delete {key}", async (deadline, token) =>
        {
            var response = await _client.DeleteAsync(EtcdMapping.Delete(key), null, deadline, token);
            Observe(response.Header);
            return response.Deleted;
        }, cancellationToken);

    public Task<long> DeletePrefixAsync(string prefix, CancellationToken cancellationToken = default) =>
        CallAsync($"delete prefix {prefix}", async (deadline, token) =>
        {
            var response = await _client.DeleteAsync(EtcdMapping.DeletePrefix(prefix), null, deadline, token);
            Observe(response.Header);
            return response.Deleted;
        }, cancellationToken);

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        await _disposing.CancelAsync();
        _client.Dispose();
        _channel.Dispose();
        await _channelServices.DisposeAsync();
        _credentials.Dispose();
        _authenticating.Dispose();
        _disposing.Dispose();
    }

    /// <summary>
    /// Runs an idempotent call under one deadline, retrying transient failures with exponential backoff and full
    /// jitter while time is left. The call gets the deadline both as a gRPC deadline and as a token. A token etcd
    /// no longer knows is renewed and the call sent again at once, once.
    /// </summary>
    private async Task<T> CallAsync<T>(string operation, Func<DateTime, CancellationToken, Task<T>> call, CancellationToken cancellationToken)
    {
        using var scope = new CallScope(this, cancellationToken);
        var renewed = false;
        for (var attempt = 0; ; attempt++)
        {
            FerryException? error;
            var token = Volatile.Read(ref _token);
            try
            {
                return await call(scope.DeadlineUtc, scope.Token);
            }
            catch (Exception e)
            {
                error = await RenewTokenOrClassifyAsync(e, token, renewed, scope, Context(operation));
            }

            if (error is null)
            {
                renewed = true;
                continue;
            }

            if (error.Class != ErrorClass.Transient) throw error;
            await scope.BackOffAsync(attempt, error);
        }
    }

    /// <summary>
    /// When <paramref name="failure"/> says etcd no longer knows the auth token <paramref name="used"/> and this call
    /// has not renewed it yet, logs in again and returns null: send the call again. Otherwise, or when logging in
    /// fails, returns what to report.
    /// </summary>
    private async Task<FerryException?> RenewTokenOrClassifyAsync(Exception failure, string? used, bool renewed, CallScope scope, ErrorContext context)
    {
        if (renewed || !_credentials.UsesLogin || !EtcdErrorClassifier.IsStaleToken(failure))
        {
            return EtcdErrorClassifier.Classify(failure, scope.CallerToken, context);
        }

        try
        {
            await AuthenticateAsync(used, scope.DeadlineUtc, scope.Token);
            return null;
        }
        catch (Exception e)
        {
            return EtcdErrorClassifier.Classify(e, scope.CallerToken, context);
        }
    }

    /// <summary>
    /// Logs in and keeps the new token for every later call, unless another call already replaced
    /// <paramref name="stale"/> (then its token is used): many calls meeting one expired token log in once.
    /// </summary>
    private async Task<bool> AuthenticateAsync(string? stale, DateTime deadline, CancellationToken cancellationToken)
    {
        await _authenticating.WaitAsync(cancellationToken);
        try
        {
            if (!ReferenceEquals(Volatile.Read(ref _token), stale)) return false;
            var request = new Rpc.AuthenticateRequest { Name = _credentials.User, Password = _credentials.Password };
            var response = await _auth.AuthenticateAsync(request, null, deadline, cancellationToken);
            Volatile.Write(ref _token, response.Token);
            return true;
        }
        finally
        {
            _authenticating.Release();
        }
    }

    /// <summary>Adds the current auth token to a call's headers; etcd reads it from <c>token</c>.</summary>
    private Metadata AddToken(Metadata headers)
    {
        if (Volatile.Read(ref _token) is { } token) headers.Add("token", token);
        return headers;
    }

    /// <summary>Exponential backoff with full jitter: uniform in [0, min(max, base·2^attempt)].</summary>
    private TimeSpan Backoff(int attempt)
    {
        var ceiling = Math.Min(
            _options.RetryMaxDelay.TotalMilliseconds,
            _options.RetryBaseDelay.TotalMilliseconds * Math.Pow(2, Math.Min(attempt, 16)));
        return TimeSpan.FromMilliseconds(Random.Shared.NextDouble() * ceiling);
    }

    private static ErrorContext Context(string operation) => new(Operation: $"etcd {operation}");

    /// <summary>
    /// What a connection that etcd closed before HTTP/2 began, for a whole call deadline, means at first contact: a
    /// TLS etcd spoken to in plain text, or one that wants a client certificate it did not get.
    /// </summary>
    private FerryException HandshakeRefused(FerryException failure)
    {
        var (code, message) = _tls
            ? _credentials.ClientCertificate is null
                ? (ErrorCodes.MetaTlsClientCertificate, "etcd closed every connection right after the TLS handshake, as it does when it requires a client certificate (--client-cert-auth) and none was given: set --etcd-cert and --etcd-key")
                : (ErrorCodes.MetaTlsClientCertificate, "etcd closed every connection right after the TLS handshake, as it does when it refuses the client certificate: check that --etcd-cert is signed by etcd's --trusted-ca-file and allowed for client authentication")
            : (ErrorCodes.MetaTlsHandshake, $"etcd at {Description} does not speak plain HTTP/2, as an etcd serving TLS does not: write the --meta endpoints as https://host:port");
        return new FerryException(code, message, failure.Context, failure);
    }

    /// <summary>Remembers the newest revision etcd reported: a lower bound for the revision of any later write.</summary>
    private void Observe(Rpc.ResponseHeader? header)
    {
        if (header is null) return;
        var seen = Volatile.Read(ref _lastRevision);
        while (header.Revision > seen)
        {
            var previous = Interlocked.CompareExchange(ref _lastRevision, header.Revision, seen);
            if (previous == seen) return;
            seen = previous;
        }
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);

    /// <summary>One call's deadline: a token that fires at it (linked to the caller's) and the same instant for gRPC.</summary>
    private sealed class CallScope : IDisposable
    {
        private readonly EtcdMetaStore _store;
        private readonly CancellationToken _callerToken;
        private readonly CancellationTokenSource _source;
        private readonly long _started = Stopwatch.GetTimestamp();

        public CallScope(EtcdMetaStore store, CancellationToken callerToken)
        {
            store.ThrowIfDisposed();
            _store = store;
            _callerToken = callerToken;
            _source = CancellationTokenSource.CreateLinkedTokenSource(callerToken, store._disposing.Token);
            _source.CancelAfter(store._options.CallTimeout);
            DeadlineUtc = DateTime.UtcNow + store._options.CallTimeout;
        }

        public DateTime DeadlineUtc { get; }

        public CancellationToken Token => _source.Token;

        public CancellationToken CallerToken => _callerToken;

        public TimeSpan Remaining => _store._options.CallTimeout - Stopwatch.GetElapsedTime(_started);

        /// <summary>Waits before the next attempt, or throws <paramref name="error"/> when no time is left for one.</summary>
        public async Task BackOffAsync(int attempt, FerryException error)
        {
            var delay = _store.Backoff(attempt);

            // Leave room for one more attempt; otherwise report now rather than at the deadline.
            if (Remaining - delay < TimeSpan.FromMilliseconds(50)) throw error;
            try
            {
                await Task.Delay(delay, Token);
            }
            catch (OperationCanceledException cancelled)
            {
                if (!_callerToken.IsCancellationRequested) throw error;
                var stop = new FerryException(ErrorCodes.Cancelled, "the operation was cancelled", error.Context, cancelled);
                stop.AddSuppressed(error);
                throw stop;
            }
        }

        public void Dispose() => _source.Dispose();
    }
}
