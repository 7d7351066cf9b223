using System.CommandLine;
using System.Text.Json;
using Ferry.Coordination;
using Ferry.Errors;
using Ferry.Meta;
using Ferry.Storage;
using Ferry.Tasks;

namespace Ferry.Cli.Commands;

/// <summary><c>ferry task start|status|pause|resume|stop</c>.</summary>
internal static class TaskCommands
{
    public static Command Build() => new("task", "Define and control backup tasks (cluster-wide, stored in the metadata store).")
    {
        Start(),
        Status(),
        Pause(),
        Resume(),
        Stop(),
    };

    private static Argument<string> NameArgument()
    {
        var name = new Argument<string>("NAME") { Description = "The task's name: letters, digits, '.', '_' or '-'." };
        name.Validators.Add(ValidateName);
        return name;
    }

    /// <summary>A bad name is a usage error caught by the parser (an unknown option in its place is found by <see cref="UsageErrors"/>).</summary>
    private static void ValidateName(System.CommandLine.Parsing.ArgumentResult result)
    {
        var value = result.Tokens.Count > 0 ? result.Tokens[0].Value : null;
        if (value is null) return;
        try
        {
            TaskControl.ValidateName(value);
        }
        catch (FerryException e)
        {
            result.AddError($"{e.Code.Code}: {e.Message}");
        }
    }

    private static Command Start()
    {
        var name = NameArgument();
        var db = new Option<string[]>("--db")
        {
            Description = "Path or glob of the SQLite databases to back up (repeatable; relative paths are made absolute).",
            Required = true,
            AllowMultipleArgumentsPerToken = true,
            Arity = ArgumentArity.OneOrMore,
        };
        var to = new Option<string>("--to")
        {
            Description = $"Where backups go: {StorageCommands.UrlForms}.",
            Required = true,
        };
        var settings = new TaskOptionFlags();
        var command = new Command("start", "Create a task; every agent starts replicating the databases that match it.") { name, db, to };
        foreach (var option in settings.All) command.Options.Add(option);
        command.SetAction((parse, ct) => CommandRunner.RunAsync(parse, async (output, token) =>
        {
            // Validate everything before touching the metadata store.
            var taskName = parse.GetValue(name)!;
            TaskControl.ValidateName(taskName);
            var options = settings.Read(parse);
            var storage = StorageUrl.Parse(parse.GetValue(to)!);
            var databases = parse.GetValue(db)!.Select(Path.GetFullPath).ToList();
            var definition = options.Define(taskName, databases, storage.ToString(), DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());

            await using var store = await Wiring.MetaStoreFactory.OpenAsync(parse, token);
            await Control(store).StartAsync(definition, token);
            await output.WriteLineAsync($"task '{taskName}' started: {string.Join(", ", databases)} -> {storage} every {Durations.Humanize(options.FlushInterval)} ({store.Description})");
            return ExitCodes.Ok;
        }, ct));
        return command;
    }

    private static Command Status()
    {
        var name = new Argument<string?>("NAME") { Description = "Only this task (default: every task).", Arity = ArgumentArity.ZeroOrOne };
        name.Validators.Add(ValidateName);
        var json = new Option<bool>("--json") { Description = "Machine-readable output." };
        var command = new Command("status", "Show tasks, their stores, checkpoints and last errors.") { name, json };
        command.SetAction((parse, ct) => CommandRunner.WithMetaAsync(parse, async (store, output, token) =>
        {
            var reports = await Control(store).StatusAsync(parse.GetValue(name), token);
            if (parse.GetValue(json))
            {
                await output.WriteLineAsync(JsonSerializer.Serialize(new { tasks = reports }, MetaJson.OutputOptions));
            }
            else
            {
                TaskStatusView.Write(Terminal.For(output), reports, DateTimeOffset.UtcNow);
            }

            return ExitCodes.Ok;
        }, ct));
        return command;
    }

    private static Command Pause()
    {
        var name = NameArgument();
        var message = new Option<string>("--message") { Description = "Why it is paused (shown in status)." };
        var command = new Command("pause", "Pause a task: every agent stops its streams and releases the databases.") { name, message };
        command.SetAction((parse, ct) => CommandRunner.WithMetaAsync(parse, async (store, output, token) =>
        {
            var taskName = parse.GetValue(name)!;
            var (pause, changed) = await Control(store).PauseAsync(
                taskName, parse.GetValue(message) ?? "paused by operator", CommandRunner.OperatorId(), token);
            await output.WriteLineAsync(changed
                ? $"task '{taskName}' paused"
                : $"task '{taskName}' was already paused ({pause.Severity.ToString().ToUpperInvariant()} by {pause.Operator}: {pause.Message}); left as it was");
            return ExitCodes.Ok;
        }, ct));
        return command;
    }

    private static Command Resume()
    {
        var name = NameArgument();
        var clear = new Option<bool>("--clear-error")
        {
            Description = "Resume a task paused by an error (after fixing the cause): removes the pause and the task's last errors together.",
        };
        var wait = new Option<string?>("--wait")
        {
            Description = "Return only when every live store works on the task again (default timeout 60s; --wait=2m), or say which did not and why.",
            Arity = ArgumentArity.ZeroOrOne,
        };
        var command = new Command("resume", "Resume a paused task.") { name, clear, wait };
        command.SetAction((parse, ct) => CommandRunner.WithMetaAsync(parse, async (store, output, token) =>
        {
            var taskName = parse.GetValue(name)!;
            var result = await Control(store).ResumeAsync(taskName, parse.GetValue(clear), token);
            switch (result.Outcome)
            {
                case ResumeOutcome.NotPaused:
                    await output.WriteLineAsync($"task '{taskName}' is not paused; nothing to do");
                    return ExitCodes.Ok;
                case ResumeOutcome.Resumed:
                    await output.WriteLineAsync(parse.GetValue(clear) ? $"task '{taskName}' resumed; its errors were cleared" : $"task '{taskName}' resumed");
                    if (parse.GetResult(wait) is null) return ExitCodes.Ok;
                    var timeout = parse.GetValue(wait) is { } text ? Durations.Parse(text, "--wait") : TimeSpan.FromSeconds(60);
                    var states = await Control(store).WaitUntilWorkingAsync(taskName, result.Revision, timeout, token);
                    foreach (var state in states)
                    {
                        await output.WriteLineAsync($"  store {state.StoreId}: {(state.Working ? "working" : "NOT working")} ({state.Why})");
                    }

                    if (states.Count == 0) await output.WriteLineAsync("  no live store: the task resumes when an agent starts");
                    return states.All(s => s.Working) ? ExitCodes.Ok : ExitCodes.Failure;
                default:
                    await TaskStatusView.WriteRefusalAsync(Console.Error, taskName, result, DateTimeOffset.UtcNow);
                    return ExitCodes.Failure;
            }
        }, ct));
        return command;
    }

    private static Command Stop()
    {
        var name = NameArgument();
        var command = new Command("stop", "Remove a task and everything recorded under it (pause, errors, checkpoints). Backups in storage stay.") { name };
        command.SetAction((parse, ct) => CommandRunner.WithMetaAsync(parse, async (store, output, token) =>
        {
            var taskName = parse.GetValue(name)!;
            await Control(store).StopAsync(taskName, token);
            await output.WriteLineAsync($"task '{taskName}' stopped and removed");
            return ExitCodes.Ok;
        }, ct));
        return command;
    }

    private static TaskControl Control(IMetaStore store) => new(store, new MetaKeys(), TimeProvider.System);
}
