using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Xunit;

namespace Ferry.TestKit.Etcd;

/// <summary>
/// A real etcd process on a free loopback port pair, with its own data directory, for tests that need the real
/// server's failure behaviour: <see cref="Stop"/> kills it, <see cref="Pause"/> hangs it (SIGSTOP),
/// <see cref="RestartAsync"/> brings it back on the same ports and data. Disposing kills it and deletes its data.
/// Use it as an xunit fixture; it never skips: without an <c>etcd</c> binary it fails with what to install.
/// </summary>
public sealed class EtcdServer : IAsyncLifetime
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(20);
    private readonly string _dataDir = Path.Combine(Path.GetTempPath(), $"ferry-etcd-{Guid.NewGuid():N}");
    private readonly StringBuilder _log = new();
    private Process? _process;
    private int _clientPort;
    private int _peerPort;
    private bool _paused;

    /// <summary>
    /// Serve clients over TLS with these certificates (the server's, trusting the CA); set before the fixture starts.
    /// The peer port stays plain: there is only one member.
    /// </summary>
    public TestCertificates? Tls { get; init; }

    /// <summary>With <see cref="Tls"/>: refuse clients without a certificate signed by its CA (<c>--client-cert-auth</c>).</summary>
    public bool ClientCertAuth { get; init; }

    /// <summary><c>user:password</c> that <see cref="Etcdctl"/> logs in with, once the test enabled etcd's auth.</summary>
    public string? EtcdctlLogin { get; set; }

    /// <summary>The client URL, e.g. <c>http://127.0.0.1:40123</c> (<c>https://</c> with <see cref="Tls"/>).</summary>
    public Uri Endpoint => new($"{(Tls is null ? "http" : "https")}://127.0.0.1:{_clientPort}");

    /// <summary>The <c>--meta</c> URL of this server, e.g. <c>etcd://127.0.0.1:40123</c> or <c>https://127.0.0.1:40123</c>.</summary>
    public string MetaUrl => Tls is null ? $"etcd://127.0.0.1:{_clientPort}" : $"https://127.0.0.1:{_clientPort}";

    /// <summary>Whether the process is alive (running or paused).</summary>
    public bool IsRunning => _process is { HasExited: false };

    /// <summary>Whether the process is stopped by <see cref="Pause"/>.</summary>
    public bool IsPaused => _paused;

    public async Task InitializeAsync()
    {
        var binary = Tools.Find("etcd") ?? throw new InvalidOperationException(
            "etcd is not on PATH, so the etcd tests can't run (they are never skipped). Install it with " +
            "`apt-get install -y etcd-server etcd-client` and run the tests with the README's test command.");

        // A port picked free can be taken by someone else before etcd binds it: try a few pairs.
        for (var attempt = 1; ; attempt++)
        {
            (_clientPort, _peerPort) = FreePortPair();
            try
            {
                await StartAsync(binary);
                return;
            }
            catch (InvalidOperationException) when (attempt < 3 && Log.Contains("address already in use", StringComparison.Ordinal))
            {
                // The failed start killed the process; its data names the old ports, so start the next pair afresh.
                if (Directory.Exists(_dataDir)) Directory.Delete(_dataDir, recursive: true);
            }
            catch (Exception)
            {
                if (Directory.Exists(_dataDir)) Directory.Delete(_dataDir, recursive: true);
                throw;
            }
        }
    }

    /// <summary>Kills the server at once (SIGKILL), as a crash would.</summary>
    public void Stop() => Kill();

    /// <summary>Hangs the server (SIGSTOP): connections stay open, nothing answers.</summary>
    public void Pause()
    {
        Signal("STOP");
        _paused = true;
    }

    /// <summary>Lets a paused server run again (SIGCONT).</summary>
    public void Resume()
    {
        Signal("CONT");
        _paused = false;
    }

    /// <summary>Kills the server if it runs and starts it again on the same ports and data, waiting until healthy.</summary>
    public async Task RestartAsync()
    {
        Kill();
        await StartAsync(Tools.Find("etcd") ?? throw new InvalidOperationException("etcd vanished from PATH"));
    }

    public Task DisposeAsync()
    {
        Kill();
        if (Directory.Exists(_dataDir)) Directory.Delete(_dataDir, recursive: true);
        return Task.CompletedTask;
    }

    /// <summary>What etcd printed most recently, for failure messages.</summary>
    public string Log
    {
        get
        {
            lock (_log)
            {
                return _log.ToString();
            }
        }
    }

    private async Task StartAsync(string binary)
    {
        Directory.CreateDirectory(_dataDir);
        var client = Endpoint.ToString().TrimEnd('/');
        var peer = $"http://127.0.0.1:{_peerPort}";
        var info = new ProcessStartInfo(binary)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[]
        {
            "--name", "ferry-test",
            "--data-dir", _dataDir,
            "--listen-client-urls", client,
            "--advertise-client-urls", client,
            "--listen-peer-urls", peer,
            "--initial-advertise-peer-urls", peer,
            "--initial-cluster", $"ferry-test={peer}",
            "--initial-cluster-state", "new",
            "--logger", "zap",
            "--log-outputs", "stderr",
            "--log-level", "warn",
        })
        {
            info.ArgumentList.Add(arg);
        }

        if (Tls is not null)
        {
            foreach (var arg in new[] { "--cert-file", Tls.ServerCertFile, "--key-file", Tls.ServerKeyFile, "--trusted-ca-file", Tls.CaFile })
            {
                info.ArgumentList.Add(arg);
            }

            if (ClientCertAuth) info.ArgumentList.Add("--client-cert-auth");
        }

        lock (_log)
        {
            _log.Clear();
        }

        var process = new Process { StartInfo = info };
        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        if (!process.Start()) throw new InvalidOperationException($"could not start {binary}");
        _process = process;
        _paused = false;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        try
        {
            await WaitHealthyAsync();
        }
        catch (Exception)
        {
            // A server that never became healthy must not outlive the failed start.
            Kill();
            throw;
        }
    }

    /// <summary>Polls etcd's /health endpoint (short timeouts) until it reports healthy, the process dies, or time runs out.</summary>
    private async Task WaitHealthyAsync()
    {
        using var http = new HttpClient(HealthHandler()) { Timeout = TimeSpan.FromSeconds(1) };
        var health = new Uri(Endpoint, "/health");
        var watch = Stopwatch.StartNew();
        string lastProblem = "no answer yet";
        while (watch.Elapsed < StartTimeout)
        {
            if (_process is not { HasExited: false })
            {
                throw new InvalidOperationException($"etcd exited while starting (code {_process?.ExitCode}):\n{Log}");
            }

            try
            {
                var body = await http.GetStringAsync(health);
                if (body.Contains("\"health\":\"true\"", StringComparison.Ordinal)) return;
                lastProblem = body;
            }
            catch (HttpRequestException e)
            {
                lastProblem = e.Message;
            }
            catch (TaskCanceledException e)
            {
                lastProblem = $"no answer within 1 s ({e.Message})";
            }

            await Task.Delay(50);
        }

        throw new InvalidOperationException($"etcd on {Endpoint} was not healthy within {StartTimeout} (last: {lastProblem}):\n{Log}");
    }

    /// <summary>A handler that speaks to this server's client port: trusting its CA, showing the client certificate.</summary>
    private SocketsHttpHandler HealthHandler()
    {
        var handler = new SocketsHttpHandler();
        if (Tls is null) return handler;
        var trust = new X509Certificate2Collection();
        trust.ImportFromPemFile(Tls.CaFile);
        var policy = new X509ChainPolicy { TrustMode = X509ChainTrustMode.CustomRootTrust, RevocationMode = X509RevocationMode.NoCheck };
        policy.CustomTrustStore.AddRange(trust);
        handler.SslOptions = new SslClientAuthenticationOptions
        {
            CertificateChainPolicy = policy,
            ClientCertificates = [X509Certificate2.CreateFromPemFile(Tls.ClientCertFile, Tls.ClientKeyFile)],
        };
        return handler;
    }

    private void Kill()
    {
        var process = _process;
        _process = null;
        Tools.KillAndDispose(process);
        _paused = false;
    }

    private void Signal(string signal)
    {
        var process = _process ?? throw new InvalidOperationException("etcd is not running");
        using var kill = Process.Start(new ProcessStartInfo("kill") { ArgumentList = { $"-{signal}", process.Id.ToString(CultureInfo.InvariantCulture) }, UseShellExecute = false })
            ?? throw new InvalidOperationException("could not run kill");
        kill.WaitForExit();
        if (kill.ExitCode != 0) throw new InvalidOperationException($"kill -{signal} {process.Id} failed with exit code {kill.ExitCode}");
    }

    private void Append(string? line)
    {
        if (line is null) return;
        lock (_log)
        {
            // Keep the tail only: a long test run must not grow this without bound.
            if (_log.Length > 64_000) _log.Remove(0, 32_000);
            _log.AppendLine(line);
        }
    }

    private static (int Client, int Peer) FreePortPair()
    {
        // Both listeners open at once, so the two ports differ.
        using var client = new TcpListener(IPAddress.Loopback, 0);
        using var peer = new TcpListener(IPAddress.Loopback, 0);
        client.Start();
        peer.Start();
        return (((IPEndPoint)client.LocalEndpoint).Port, ((IPEndPoint)peer.LocalEndpoint).Port);
    }
}
