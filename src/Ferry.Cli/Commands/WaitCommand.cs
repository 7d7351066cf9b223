using System.CommandLine;
using Ferry.Errors;
using Ferry.Meta;
using Ferry.Streams;

namespace Ferry.Cli.Commands;

/// <summary><c>ferry wait DB</c>: returns once what DB committed before the call is durable in storage.</summary>
internal static class WaitCommand
{
    public static Command Build()
    {
        var database = new Argument<string>("DB") { Description = "The database, as `ferry replicate` (or the task) names it: its path on this host." };
        var timeout = new Option<string>("--timeout")
        {
            Description = "How long to wait before failing with FERRY:Task:WaitTimedOut (exit 69).",
            DefaultValueFactory = _ => "30s",
        };
        var task = new Option<string?>("--task") { Description = "Only this task (default: every task that replicates DB)." };
        var storeId = new Option<long?>("--store-id") { Description = "Only this store (needed when several hosts replicate a database at the same path)." };
        var command = new Command(
            "wait",
            "Wait until everything DB committed before this call is durable in storage, then exit 0: after a batch job, before a deploy "
            + "or a shutdown. Reads DB's WAL file and the checkpoint the replicating process publishes in the metadata store (the same "
            + "--meta as `ferry replicate`, the embedded store by default); it never opens DB with SQLite nor writes anything.")
        {
            database, timeout, task, storeId,
        };
        command.SetAction((parse, ct) => CommandRunner.WithMetaAsync(parse, async (store, output, token) =>
        {
            var limit = Durations.Parse(parse.GetValue(timeout)!, "--timeout");
            if (parse.GetValue(storeId) is <= 0) throw new FerryException(ErrorCodes.ConfigInvalidArgument, "--store-id must be a positive integer");
            var result = await DurableWait.WaitAsync(store, new MetaKeys(), parse.GetValue(database)!, limit, parse.GetValue(task), parse.GetValue(storeId), TimeProvider.System, token);
            foreach (var proof in result.Proofs) await output.WriteLineAsync($"durable: {result.Database}: {proof}");
            return ExitCodes.Ok;
        }, ct));
        return command;
    }
}
