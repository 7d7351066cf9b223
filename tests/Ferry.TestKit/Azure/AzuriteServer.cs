using System.Diagnostics;
using System.Globalization;
using System.Text;
using Azure.Storage;
using Azure.Storage.Blobs;
using Ferry.TestKit.Cli;
using Xunit;

namespace Ferry.TestKit.Azure;

/// <summary>
/// A real Azurite blob service (the npm Azure Storage emulator, <c>azurite-blob</c>) on a free loopback port with its
/// own temp data directory, with the container <see cref="Container"/> created. It serves the account
/// <see cref="Account"/> with its well-known key, checks shared-key signatures (a wrong key answers 403), honours
/// <c>If-None-Match: *</c> and answers 404 ContainerNotFound for a missing container. It is installed under
/// tests/tools/azurite by <c>npm ci --prefix tests/tools/azurite</c> (scripts/test.sh does it). Use it as an xunit
/// fixture; it never skips: without node or Azurite it fails with what to run.
/// <see cref="Stop"/> takes it down and <see cref="RestartAsync"/> brings it back on the same port and data, for
/// outage tests. Disposing kills it and deletes its data.
/// </summary>
public sealed class AzuriteServer : IAsyncLifetime
{
    /// <summary>Azurite's development account and its published key (the same in every Azurite).</summary>
    public const string Account = "devstoreaccount1";
    public const string AccountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    // Azurite loads a few hundred modules at start: seconds on an idle machine, much longer on a loaded one.
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(120);
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(10);
    private readonly string _dataDir = Path.Combine(Path.GetTempPath(), $"ferry-azurite-{Guid.NewGuid():N}");
    private readonly StringBuilder _log = new();
    private Process? _process;
    private int _port;

    /// <summary>The container created at start.</summary>
    public string Container { get; } = "ferry-test";

    /// <summary>The blob endpoint, <c>http://127.0.0.1:P/devstoreaccount1</c>, for a URL's <c>endpoint=</c>.</summary>
    public Uri BlobEndpoint => new($"http://127.0.0.1:{_port}/{Account}");

    /// <summary>A connection string with the account, its key and <see cref="BlobEndpoint"/>.</summary>
    public string ConnectionString =>
        $"DefaultEndpointsProtocol=http;AccountName={Account};AccountKey={AccountKey};BlobEndpoint={BlobEndpoint};";

    /// <summary>What a <c>ferry</c> process needs to reach this server through the connection string alone (az:// URLs without endpoint=).</summary>
    public IReadOnlyDictionary<string, string> Environment => new Dictionary<string, string>
    {
        ["AZURE_STORAGE_CONNECTION_STRING"] = ConnectionString,
    };

    /// <summary>Account and key variables for az:// URLs that name <see cref="BlobEndpoint"/> (<see cref="Url"/>); <paramref name="key"/> replaces the right key.</summary>
    public static IReadOnlyDictionary<string, string> KeyEnvironment(string key = AccountKey) => new Dictionary<string, string>
    {
        ["AZURE_STORAGE_ACCOUNT"] = Account,
        ["AZURE_STORAGE_KEY"] = key,
    };

    /// <summary><c>az://CONTAINER/PREFIX?endpoint=BLOB_ENDPOINT</c>, for account and key credentials (<see cref="KeyEnvironment"/>).</summary>
    public string Url(string prefix, string? container = null) => $"az://{container ?? Container}/{prefix}?endpoint={BlobEndpoint}";

    public static string ToolDirectory => Path.Combine(RepoRoot.Path, "tests", "tools", "azurite");

    /// <summary><c>azurite-blob</c>: the script npm links as node_modules/.bin/azurite-blob.</summary>
    private static string Script => Path.Combine(ToolDirectory, "node_modules", "azurite", "dist", "src", "blob", "main.js");

    public bool IsRunning => _process is { HasExited: false };

    public async Task InitializeAsync()
    {
        var node = Node();
        if (!File.Exists(Script))
        {
            throw new InvalidOperationException(
                $"Azurite is not installed ({Script} is missing), so the Azure tests can't run (they are never skipped). " +
                "Run `npm ci --prefix tests/tools/azurite` from the repository root, or ./scripts/test.sh, which does it.");
        }

        for (var attempt = 1; ; attempt++)
        {
            _port = Tools.FreePort();
            try
            {
                await StartAsync(node);
                await CreateContainerAsync(Container);
                return;
            }
            catch (InvalidOperationException) when (attempt < 3 && Log.Contains("EADDRINUSE", StringComparison.Ordinal))
            {
                // The port was taken between picking and binding: try another.
            }
            catch (Exception)
            {
                Kill();
                DeleteData();
                throw;
            }
        }
    }

    /// <summary>A client of this server's account, for the tests' own checks and set-up.</summary>
    public BlobServiceClient Client() => new(BlobEndpoint, new StorageSharedKeyCredential(Account, AccountKey));

    public async Task CreateContainerAsync(string container)
    {
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await Client().GetBlobContainerClient(container).CreateIfNotExistsAsync(cancellationToken: deadline.Token);
    }

    /// <summary>
    /// Stops the server: SIGTERM, so it saves its metadata (it saves only every 5 s otherwise, and a SIGKILL would
    /// lose the blobs written since), then SIGKILL if it has not exited within 10 s. Its data stays until dispose.
    /// </summary>
    public void Stop()
    {
        var process = _process;
        if (process is { HasExited: false })
        {
            process.Kill(Signal.Term);
            if (!process.WaitForExit(StopTimeout)) AppendLine($"azurite did not exit within {StopTimeout} of SIGTERM; killing it");
        }

        Kill();
    }

    /// <summary>
    /// Stops the server if it runs and starts it again on the same port with the same data directory (its containers
    /// and blobs are still there), waiting until it answers. Fails, rather than moving, when the port was taken meanwhile.
    /// </summary>
    public async Task RestartAsync()
    {
        Stop();
        await StartAsync(Node());
    }

    public Task DisposeAsync()
    {
        Kill();
        DeleteData();
        return Task.CompletedTask;
    }

    /// <summary>What Azurite printed most recently, for failure messages.</summary>
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

    private static string Node() => Tools.Find("node") ?? throw new InvalidOperationException(
        "node is not on PATH, so the Azure tests can't run (they are never skipped). Install Node.js (e.g. " +
        "`apt-get install -y nodejs npm`) and run the tests with ./scripts/test.sh, which installs Azurite.");

    private async Task StartAsync(string node)
    {
        Directory.CreateDirectory(_dataDir);
        var info = new ProcessStartInfo(node)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        string[] args =
        [
            Script, "--blobHost", "127.0.0.1", "--blobPort", _port.ToString(CultureInfo.InvariantCulture), "--location", _dataDir,
            // The SDK speaks a newer service version than Azurite knows; telemetry would try to reach the internet.
            "--silent", "--skipApiVersionCheck", "--disableTelemetry",
        ];
        foreach (var arg in args) info.ArgumentList.Add(arg);
        lock (_log)
        {
            _log.Clear();
        }

        var process = new Process { StartInfo = info };
        process.OutputDataReceived += (_, e) => AppendLine(e.Data);
        process.ErrorDataReceived += (_, e) => AppendLine(e.Data);
        if (!process.Start()) throw new InvalidOperationException($"could not start {node} {Script}");
        _process = process;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await WaitReadyAsync();
        }
        catch (Exception)
        {
            Kill();
            throw;
        }
    }

    /// <summary>Polls the account's endpoint until Azurite answers at all (an unsigned request gets 403), the process dies, or time runs out.</summary>
    private async Task WaitReadyAsync()
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(1) };
        var watch = Stopwatch.StartNew();
        var lastProblem = "no answer yet";
        while (watch.Elapsed < StartTimeout)
        {
            if (_process is not { HasExited: false })
            {
                throw new InvalidOperationException($"azurite exited while starting (code {_process?.ExitCode}):\n{Log}");
            }

            try
            {
                using var response = await http.GetAsync(new Uri(BlobEndpoint + "?comp=list"));
                if (response.Headers.TryGetValues("Server", out var server) && server.Any(s => s.StartsWith("Azurite-Blob", StringComparison.Ordinal))) return;
                lastProblem = $"HTTP {(int)response.StatusCode} from something that is not Azurite";
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

        throw new InvalidOperationException($"azurite on {BlobEndpoint} was not ready within {StartTimeout} (last: {lastProblem}):\n{Log}");
    }

    private void Kill()
    {
        var process = _process;
        _process = null;
        Tools.KillAndDispose(process);
    }

    private void DeleteData()
    {
        if (Directory.Exists(_dataDir)) Directory.Delete(_dataDir, recursive: true);
    }

    private void AppendLine(string? line)
    {
        if (line is null) return;
        lock (_log)
        {
            if (_log.Length > 64_000) _log.Remove(0, 32_000);
            _log.AppendLine(line);
        }
    }
}
