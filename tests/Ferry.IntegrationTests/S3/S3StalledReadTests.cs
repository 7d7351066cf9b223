using System.Net;
using System.Net.Sockets;
using System.Text;
using Ferry.Errors;
using Ferry.S3;
using Ferry.Storage;

namespace Ferry.IntegrationTests.S3;

/// <summary>
/// A GET whose body stops arriving, from a loopback socket server that answers with the headers, a Content-Length
/// and only part of the body, then holds the connection open and says nothing. Through the real AWS SDK the read
/// must end with <c>FERRY:Storage:Timeout</c> after the idle timeout, not hang; the caller's own cancel is still
/// a cancellation; and a body that keeps trickling in is not cut off, however long it takes in all.
/// </summary>
public sealed class S3StalledReadTests
{
    // The test's own bound: far above the 1 s idle timeout, so only a hang (or a missing deadline) exceeds it.
    private static readonly TimeSpan TestDeadline = TimeSpan.FromSeconds(30);

    private const int BodyLength = 64 * 1024;

    private static S3ObjectStorage Open(StallingServer server, TimeSpan readIdleTimeout) => new(
        StorageUrl.Parse("s3://bucket/prefix"),
        new S3StorageOptions
        {
            Endpoint = server.Endpoint,
            AccessKeyId = "AKIDSCRIPTED",
            SecretAccessKey = new S3Secret("scripted-secret-value"),
            RequestTimeout = TimeSpan.FromSeconds(20),
            ReadIdleTimeout = readIdleTimeout,
        });

    [Fact]
    public async Task ReadAllBytes_BodyStallsAfterPart_TimeoutWithinTheTestsDeadline()
    {
        await using var server = StallingServer.Start((body, ct) => body.SendPartThenStallAsync(1000, ct));
        await using var storage = Open(server, readIdleTimeout: TimeSpan.FromSeconds(1));

        var error = await Assert.ThrowsAsync<FerryException>(() => storage.ReadAllBytesAsync("dbs/x").WaitAsync(TestDeadline));

        Assert.Equal(ErrorCodes.StorageTimeout, error.Code);
        Assert.Equal(ErrorClass.Transient, error.Class);
        Assert.Equal("read dbs/x", error.Context.Operation);
        Assert.DoesNotContain("scripted-secret-value", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ReadAsync_BodyStallsAfterPart_TimeoutAfterTheBytesThatCame()
    {
        await using var server = StallingServer.Start((body, ct) => body.SendPartThenStallAsync(1000, ct));
        await using var storage = Open(server, readIdleTimeout: TimeSpan.FromSeconds(1));
        await using var stream = (await storage.TryOpenReadAsync("dbs/x").WaitAsync(TestDeadline))!;
        var part = new byte[1000];
        await stream.ReadExactlyAsync(part).AsTask().WaitAsync(TestDeadline);

        var error = await Assert.ThrowsAsync<FerryException>(() => stream.ReadAsync(new byte[100]).AsTask().WaitAsync(TestDeadline));

        Assert.Equal(StallingServer.Body[..1000], part);
        Assert.Equal(ErrorCodes.StorageTimeout, error.Code);
        Assert.Contains("no data", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ReadAsync_CallerCancelsDuringAStalledRead_CancelledNotTimeout()
    {
        await using var server = StallingServer.Start((body, ct) => body.SendPartThenStallAsync(1000, ct));

        // The idle timeout is far beyond the test's deadline: only the caller's cancel can end this read.
        await using var storage = Open(server, readIdleTimeout: TimeSpan.FromMinutes(10));
        await using var stream = (await storage.TryOpenReadAsync("dbs/x").WaitAsync(TestDeadline))!;
        await stream.ReadExactlyAsync(new byte[1000]).AsTask().WaitAsync(TestDeadline);
        using var caller = new CancellationTokenSource();
        var read = stream.ReadAsync(new byte[100], caller.Token).AsTask();
        Assert.False(read.IsCompleted); // The server sends nothing more: the read is waiting on the socket.

        await caller.CancelAsync();
        var error = await Assert.ThrowsAsync<FerryException>(() => read.WaitAsync(TestDeadline));

        Assert.Equal(ErrorCodes.Cancelled, error.Code);
    }

    [Fact]
    public async Task ReadAllBytes_BodyTricklesLongerThanTheIdleTimeout_ReadWhole()
    {
        // 24 pieces 150 ms apart: about 3.5 s in all, each gap far below the 2 s idle timeout.
        await using var server = StallingServer.Start((body, ct) => body.TrickleAsync(pieces: 24, gap: TimeSpan.FromMilliseconds(150), ct));
        await using var storage = Open(server, readIdleTimeout: TimeSpan.FromSeconds(2));
        var watch = System.Diagnostics.Stopwatch.StartNew();

        var bytes = await storage.ReadAllBytesAsync("dbs/x").WaitAsync(TestDeadline);

        Assert.Equal(StallingServer.Body, bytes);
        Assert.True(watch.Elapsed > TimeSpan.FromSeconds(2), $"the body took {watch.Elapsed}, not longer than the idle timeout: the test proves nothing");
    }

    /// <summary>
    /// A loopback HTTP/1.1 server for GETs: it reads a request's headers and answers 200 with
    /// <see cref="BodyLength"/> as Content-Length, then hands the connection to a script that sends (some of) the
    /// body. Disposing closes every connection, which also ends a read the code under test left hanging.
    /// </summary>
    private sealed class StallingServer : IAsyncDisposable
    {
        public static readonly byte[] Body = Enumerable.Range(0, BodyLength).Select(i => (byte)(i * 7)).ToArray();

        private readonly TcpListener _listener;
        private readonly Func<Connection, CancellationToken, Task> _script;
        private readonly CancellationTokenSource _stop = new();
        private readonly List<TcpClient> _clients = [];
        private readonly Task _accepting;

        private StallingServer(Func<Connection, CancellationToken, Task> script)
        {
            _script = script;
            _listener = new TcpListener(IPAddress.Loopback, 0);
            _listener.Start();
            Endpoint = new Uri($"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}");
            _accepting = AcceptAsync();
        }

        public Uri Endpoint { get; }

        public static StallingServer Start(Func<Connection, CancellationToken, Task> script) => new(script);

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            _listener.Stop();
            lock (_clients)
            {
                foreach (var client in _clients) client.Dispose();
            }

            await _accepting;
            _stop.Dispose();
        }

        private async Task AcceptAsync()
        {
            var answering = new List<Task>();
            while (!_stop.IsCancellationRequested)
            {
                TcpClient client;
                try
                {
                    client = await _listener.AcceptTcpClientAsync(_stop.Token);
                }
                catch (Exception) when (_stop.IsCancellationRequested)
                {
                    break;
                }

                lock (_clients) _clients.Add(client);
                answering.Add(AnswerAsync(client));
            }

            await Task.WhenAll(answering);
        }

        private async Task AnswerAsync(TcpClient client)
        {
            try
            {
                var stream = client.GetStream();
                await ReadRequestHeadAsync(stream, _stop.Token);
                var head = Encoding.ASCII.GetBytes(
                    $"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {BodyLength}\r\n\r\n");
                await stream.WriteAsync(head, _stop.Token);
                await _script(new Connection(stream), _stop.Token);
            }
            catch (Exception) when (_stop.IsCancellationRequested)
            {
                // The test is over: the connection was closed under the script, as intended.
            }
        }

        private static async Task ReadRequestHeadAsync(NetworkStream stream, CancellationToken cancellationToken)
        {
            var seen = new List<byte>();
            var one = new byte[1];
            while (seen.Count < 4 || seen[^4] != '\r' || seen[^3] != '\n' || seen[^2] != '\r' || seen[^1] != '\n')
            {
                if (await stream.ReadAsync(one, cancellationToken) == 0) throw new IOException("the client closed before its request was complete");
                seen.Add(one[0]);
            }
        }

        /// <summary>The body side of one answer.</summary>
        public sealed class Connection(NetworkStream stream)
        {
            /// <summary>Sends the first <paramref name="bytes"/> of the body, then nothing until the server is disposed.</summary>
            public async Task SendPartThenStallAsync(int bytes, CancellationToken cancellationToken)
            {
                await stream.WriteAsync(Body.AsMemory(0, bytes), cancellationToken);
                await stream.FlushAsync(cancellationToken);
                await Task.Delay(Timeout.InfiniteTimeSpan, cancellationToken);
            }

            /// <summary>Sends the whole body in <paramref name="pieces"/> with <paramref name="gap"/> between them: a slow link.</summary>
            public async Task TrickleAsync(int pieces, TimeSpan gap, CancellationToken cancellationToken)
            {
                var size = (Body.Length + pieces - 1) / pieces;
                for (var offset = 0; offset < Body.Length; offset += size)
                {
                    if (offset > 0) await Task.Delay(gap, cancellationToken);
                    await stream.WriteAsync(Body.AsMemory(offset, Math.Min(size, Body.Length - offset)), cancellationToken);
                    await stream.FlushAsync(cancellationToken);
                }

                await Task.Delay(Timeout.InfiniteTimeSpan, cancellationToken);
            }
        }
    }
}
