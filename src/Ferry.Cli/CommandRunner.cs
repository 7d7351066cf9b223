using System.CommandLine;
using Ferry.Cli.Wiring;
using Ferry.Errors;
using Ferry.Meta;

namespace Ferry.Cli;

/// <summary>
/// Runs a command body: opens what it needs, turns every failure into one line on stderr with its code and an
/// exit code, never a stack trace (unless --verbose).
/// </summary>
internal static class CommandRunner
{
    public static readonly Option<string?> Meta = new("--meta")
    {
        Description = "Metadata store: file:PATH (embedded), etcd://host:port[,host:port...] or, over TLS, https://host:port[,host:port...]. "
            + "Default: $FERRY_META, else $FERRY_HOME/meta.db (FERRY_HOME defaults to ~/.ferry).",
        Recursive = true,
    };

    public static readonly Option<bool> Verbose = new("--verbose")
    {
        Description = "Print the full detail of errors.",
        Recursive = true,
    };

    public static Task<int> RunAsync(ParseResult parse, Func<TextWriter, CancellationToken, Task<int>> body, CancellationToken cancellationToken) =>
        RunAsync(parse, body, Console.Out, Console.Error, cancellationToken);

    /// <summary>Like the other overload, with the body's output and the error lines going to the writers given (tests).</summary>
    internal static async Task<int> RunAsync(
        ParseResult parse,
        Func<TextWriter, CancellationToken, Task<int>> body,
        TextWriter output,
        TextWriter stderr,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(parse);
        ArgumentNullException.ThrowIfNull(body);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(stderr);
        try
        {
            return await body(output, cancellationToken);
        }
        catch (Exception e) when (cancellationToken.IsCancellationRequested && e is OperationCanceledException or FerryException { Class: ErrorClass.Cancelled })
        {
            // Only the cancellation the interrupt asked for is an interrupt. Any other error, even one met while
            // stopping after the signal (the last upload failing), keeps its own line and exit code.
            await stderr.WriteLineAsync("ferry: interrupted");
            return ExitCodes.Interrupted;
        }
        catch (FerryException e)
        {
            await stderr.WriteLineAsync($"ferry: {e.ToOneLine()}");
            if (parse.GetValue(Verbose))
            {
                await stderr.WriteLineAsync($"  error id {e.ErrorId}, class {e.Class}; hint: {e.Code.Hint}");
                if (e.InnerException is not null) await stderr.WriteLineAsync(e.InnerException.ToString());
            }

            return ExitCodes.For(e);
        }
        catch (Exception e)
        {
            // Anything not already a Ferry error is a bug: still one line with a code and an error id, never a stack
            // trace unless asked for. So is a cancellation nobody asked for (a deadline must surface as a *Timeout).
            var bug = new FerryException(ErrorCodes.Internal, $"unexpected {e.GetType().Name}: {e.Message}", innerException: e);
            await stderr.WriteLineAsync($"ferry: {bug.ToOneLine()}");
            if (parse.GetValue(Verbose)) await stderr.WriteLineAsync(e.ToString());
            return ExitCodes.Internal;
        }
    }

    /// <summary>Like <see cref="RunAsync"/>, with the metadata store of --meta opened and closed around the body.</summary>
    public static Task<int> WithMetaAsync(
        ParseResult parse,
        Func<IMetaStore, TextWriter, CancellationToken, Task<int>> body,
        CancellationToken cancellationToken) =>
        RunAsync(parse, async (output, ct) =>
        {
            await using var store = await MetaStoreFactory.OpenAsync(parse, ct);
            return await body(store, output, ct);
        }, cancellationToken);

    public static string OperatorId() => $"{Environment.MachineName}:{Environment.ProcessId}";
}
