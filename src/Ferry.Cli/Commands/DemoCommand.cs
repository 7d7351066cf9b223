using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using Ferry.Agent;
using Ferry.Cli.Wiring;
using Ferry.Coordination;
using Ferry.Diagnostics;
using Ferry.Errors;
using Ferry.Meta.Embedded;
using Ferry.Restore;
using Ferry.Storage;
using Ferry.Tasks;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;

namespace Ferry.Cli.Commands;

/// <summary>
/// <c>ferry demo</c>: the whole main job on a fresh machine, with nothing to set up. It makes a sample database,
/// writes to it from a separate writer process, replicates it, restores it and checks the restore against the
/// source, printing what it did and the figures.
/// </summary>
internal static class DemoCommand
{
    public static Command Build()
    {
        var dir = new Option<string?>("--dir") { Description = "Where to put the sample database, its backup and the restore (default: ./ferry-demo-TIMESTAMP)." };
        var seconds = new Option<int>("--seconds") { Description = "How long the writer writes.", DefaultValueFactory = _ => 10 };
        var writerFor = new Option<string?>("--writer-for") { Hidden = true };
        var command = new Command("demo", "Replicate a sample database under live writes, restore it, and check the restore against the source.")
        {
            dir, seconds, writerFor,
        };
        command.SetAction((parse, ct) => CommandRunner.RunAsync(parse, async (output, token) =>
        {
            var duration = parse.GetValue(seconds);
            if (duration is < 1 or > 3600) throw new FerryException(ErrorCodes.ConfigInvalidArgument, "--seconds must be between 1 and 3600");
            if (parse.GetValue(writerFor) is { } target) return await WriteAsync(target, TimeSpan.FromSeconds(duration), output, token);
            var root = Path.GetFullPath(parse.GetValue(dir) ?? $"ferry-demo-{DateTime.UtcNow.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture)}");
            return await RunAsync(root, TimeSpan.FromSeconds(duration), parse.GetValue(CommandRunner.Verbose), output, token);
        }, ct));
        return command;
    }

    private static async Task<int> RunAsync(string root, TimeSpan duration, bool verbose, TextWriter output, CancellationToken token)
    {
        if (Directory.Exists(root) && Directory.EnumerateFileSystemEntries(root).Any())
        {
            throw new FerryException(ErrorCodes.ConfigInvalidArgument, $"{root} is not empty; give --dir a new or empty directory");
        }

        Directory.CreateDirectory(root);
        var db = Path.Combine(root, "app.db");
        var backup = Path.Combine(root, "backup");
        var restored = Path.Combine(root, "restored.db");
        Directory.CreateDirectory(backup);
        CreateSampleDatabase(db);
        await output.WriteLineAsync($"1. made a sample database {db} (WAL mode, table orders)");

        using var shutdown = new Shutdown(token);
        await using var meta = await SqliteMetaStore.OpenAsync(Path.Combine(root, "meta.db"), cancellationToken: shutdown.Token);
        var definition = new TaskDefinition("demo", [db], StorageUrl.Parse(backup).ToString(), 500, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        // The agent itself, for this one task, as `ferry replicate` runs it; stopping it ships what it captured.
        using var stopAgent = CancellationTokenSource.CreateLinkedTokenSource(shutdown.Token);
        using var host = AgentHost.Build(meta, new FerryAgentOptions { Store = new StoreSessionOptions { StoreId = 1, Version = ThisAssembly.Version }, SingleTask = definition }, logging => Logging.Configure(logging, verbose));
        var agent = host.Agent();
        var run = host.RunAsync(stopAgent.Token);
        await output.WriteLineAsync($"2. replicating it to {backup} (flush every 500ms; metadata in {Path.Combine(root, "meta.db")})");
        RunnerReport? Report() => agent.Report().Tasks.SingleOrDefault();

        using var writer = StartWriter(db, duration);
        // Interrupted or failed, the demo never leaves its writer running behind it.
        using var killWriter = shutdown.Token.Register(() => KillIfRunning(writer));
        await output.WriteLineAsync($"3. a separate writer process (pid {writer.Id}) writes orders for {duration.TotalSeconds:0} s");
        var lags = new List<double>();
        while (!writer.HasExited)
        {
            await Task.WhenAny(writer.WaitForExitAsync(shutdown.Token), Task.Delay(TimeSpan.FromSeconds(1), shutdown.Token));
            ThrowIfEnded(run);
            var report = Report();
            var checkpoint = report?.Streams.Select(s => s.CheckpointAt).FirstOrDefault();
            var lag = checkpoint is null ? (double?)null : (DateTimeOffset.UtcNow - checkpoint.Value).TotalSeconds;
            if (lag is not null) lags.Add(lag.Value);
            await output.WriteLineAsync(
                $"   {report?.OperatorState.ToString() ?? "starting",-8} {(report?.Streams.Sum(s => s.ReplicatedBytes) ?? 0) / 1024.0:0} KiB shipped, lag {(lag is null ? "-" : $"{lag:0.00} s")}"
                + (report?.LastError is { } e ? $", last error {e.Code.Code}" : ""));
        }

        var rows = (await writer.StandardOutput.ReadToEndAsync(shutdown.Token)).Trim();
        if (writer.ExitCode != 0) throw new FerryException(ErrorCodes.Internal, $"the demo writer failed: {await writer.StandardError.ReadToEndAsync(shutdown.Token)}");
        var lastWrite = DateTimeOffset.UtcNow;
        await output.WriteLineAsync($"4. the writer committed {rows} orders; waiting until all of them are durable in the backup");
        var wait = Stopwatch.StartNew();
        while (Report()?.Streams.Select(s => s.CheckpointAt).FirstOrDefault() is not { } at || at < lastWrite)
        {
            ThrowIfEnded(run);
            if (wait.Elapsed > TimeSpan.FromSeconds(30))
            {
                throw new FerryException(ErrorCodes.TaskStalled, "the backup did not catch up with the writer within 30 s; see the log lines above");
            }

            await Task.Delay(50, shutdown.Token);
        }

        var caughtUp = wait.Elapsed;
        await stopAgent.CancelAsync();
        await run;
        await using var storage = StorageFactory.Open(StorageUrl.Parse(backup));

        var clock = Stopwatch.StartNew();
        var result = await DatabaseRestore.RunAsync(storage, new RestoreRequest(db, restored), null, shutdown.Token);
        clock.Stop();
        await output.WriteLineAsync($"5. restored it to {restored} in {clock.Elapsed.TotalMilliseconds:0} ms ({result.TransactionsApplied} transactions from {result.SegmentsApplied} segments on a snapshot; integrity_check ok)");

        var (sourceRows, sourceHash) = Fingerprint(db);
        var (restoredRows, restoredHash) = Fingerprint(restored);
        var same = sourceRows == restoredRows && sourceHash == restoredHash;
        await output.WriteLineAsync($"6. source: {sourceRows} orders, {new FileInfo(db).Length / 1024} KiB; restore: {restoredRows} orders; contents {(same ? "identical" : "DIFFERENT")}");
        if (lags.Count > 0)
        {
            lags.Sort();
            await output.WriteLineAsync($"   lag while writing: median {lags[lags.Count / 2]:0.00} s, max {lags[^1]:0.00} s; caught up {caughtUp.TotalMilliseconds:0} ms after the last write");
        }

        await output.WriteLineAsync(same
            ? $"done: every committed order came back. Try `ferry storage ls --from {backup}`."
            : "the restore differs from the source: this is a bug, please report it with the directory above");
        return same ? ExitCodes.Ok : ExitCodes.Failure;
    }

    /// <summary>The agent ended before the demo stopped it: its error is the demo's.</summary>
    private static void ThrowIfEnded(Task<int> run)
    {
        if (!run.IsCompleted) return;
        run.GetAwaiter().GetResult();
        throw new FerryException(ErrorCodes.Internal, "the demo's agent stopped by itself; see the log lines above");
    }

    private static void CreateSampleDatabase(string path)
    {
        using var connection = new SqliteConnection($"Data Source={path};Pooling=False");
        connection.Open();
        using var create = connection.CreateCommand();
        create.CommandText = """
            PRAGMA journal_mode=WAL;
            CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT NOT NULL, amount_cents INTEGER NOT NULL, note TEXT, created_at TEXT NOT NULL);
            """;
        create.ExecuteNonQuery();
    }

    /// <summary>The writer is a separate process, as an application would be: Ferry's connections never share a process with it.</summary>
    private static Process StartWriter(string db, TimeSpan duration)
    {
        var info = new ProcessStartInfo(Environment.ProcessPath ?? "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        // Under `dotnet ferry.dll` the process path is dotnet itself: pass the entry assembly first.
        if (Path.GetFileNameWithoutExtension(info.FileName) == "dotnet") info.ArgumentList.Add(typeof(DemoCommand).Assembly.Location);
        foreach (var arg in new[] { "demo", "--writer-for", db, "--seconds", ((int)duration.TotalSeconds).ToString(CultureInfo.InvariantCulture) })
        {
            info.ArgumentList.Add(arg);
        }

        return Process.Start(info) ?? throw new FerryException(ErrorCodes.Internal, "could not start the demo writer process");
    }

    private static void KillIfRunning(Process process)
    {
        try
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // It exited between the check and the kill: nothing left to stop.
        }
    }

    /// <summary>The writer: small transactions at about 50 per second, now and then a bigger one, an update and a delete.</summary>
    private static async Task<int> WriteAsync(string db, TimeSpan duration, TextWriter output, CancellationToken token)
    {
        using var connection = new SqliteConnection($"Data Source={db};Pooling=False;Default Timeout=5");
        connection.Open();
        var random = new Random();
        var clock = Stopwatch.StartNew();
        var orders = 0;
        string[] customers = ["ada", "grace", "edsger", "barbara", "ken", "margaret", "linus", "donald"];
        while (clock.Elapsed < duration && !token.IsCancellationRequested)
        {
            using var transaction = connection.BeginTransaction();
            var count = random.Next(10) == 0 ? 200 : 1;
            for (var i = 0; i < count; i++)
            {
                using var insert = connection.CreateCommand();
                insert.Transaction = transaction;
                insert.CommandText = "INSERT INTO orders (customer, amount_cents, note, created_at) VALUES ($c, $a, $n, $t)";
                insert.Parameters.AddWithValue("$c", customers[random.Next(customers.Length)]);
                insert.Parameters.AddWithValue("$a", random.Next(100, 100_000));
                insert.Parameters.AddWithValue("$n", new string('x', random.Next(0, 400)));
                insert.Parameters.AddWithValue("$t", DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture));
                insert.ExecuteNonQuery();
                orders++;
            }

            if (random.Next(20) == 0)
            {
                using var change = connection.CreateCommand();
                change.Transaction = transaction;
                change.CommandText = "UPDATE orders SET amount_cents = amount_cents + 1 WHERE id % 7 = 0; DELETE FROM orders WHERE id IN (SELECT id FROM orders ORDER BY random() LIMIT 1);";
                orders -= change.ExecuteNonQuery() > 0 ? 1 : 0;
            }

            transaction.Commit();
            await Task.Delay(20, CancellationToken.None);
        }

        using var total = connection.CreateCommand();
        total.CommandText = "SELECT count(*) FROM orders";
        await output.WriteLineAsync(Convert.ToString(total.ExecuteScalar(), CultureInfo.InvariantCulture));
        return ExitCodes.Ok;
    }

    /// <summary>Row count and a SHA-256 over every row in id order: equal fingerprints mean equal contents.</summary>
    private static (long Rows, string Hash) Fingerprint(string path)
    {
        using var connection = new SqliteConnection($"Data Source={path};Mode=ReadOnly;Pooling=False");
        connection.Open();
        using var select = connection.CreateCommand();
        select.CommandText = "SELECT id, customer, amount_cents, note, created_at FROM orders ORDER BY id";
        using var reader = select.ExecuteReader();
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        long rows = 0;
        while (reader.Read())
        {
            rows++;
            var line = string.Join('\u001f', Enumerable.Range(0, reader.FieldCount).Select(i => Convert.ToString(reader.GetValue(i), CultureInfo.InvariantCulture)));
            hash.AppendData(System.Text.Encoding.UTF8.GetBytes(line + "\n"));
        }

        return (rows, Convert.ToHexString(hash.GetHashAndReset()));
    }
}
