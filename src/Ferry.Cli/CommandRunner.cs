using System.CommandLine;
using Ferry.Cli.Wiring;
using Ferry.Errors;
using Ferry.Meta;

namespace Ferry.Cli;

/// <summary>
/// Runs a command body: opens what it needs, turns every failure into one line on stderr with its code and an
/// exit code, never a stack trace (unless --verbose).
/// </summary>
public static class CommandRunner
{
    public static readonly Option<string?> Meta = new("--meta")
    {
        Description = "Metadata store: file:PATH (embedded) or etcd://host:port[,host:port...]. "
            + "Default: $FERRY_META, else $FERRY_HOME/meta.db (FERRY_HOME defaults to ~/.ferry).",
        Recursive = true,
    };

    public static readonly Option<bool> Verbose = new("--verbose")
    {
        Description = "Print the full detail of errors.",
        Recursive = true,
    };

    public static async Task<int> RunAsync(ParseResult parse, Func<TextWriter, CancellationToken, Task<int>> body, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(parse);
        ArgumentNullException.ThrowIfNull(body);
        try
        {
            return await body(Console.Out, cancellationToken);
        }
        catch (FerryException e) when (e.Class == ErrorClass.Cancelled || cancellationToken.IsCancellationRequested)
        {
            await Console.Error.WriteLineAsync("ferry: interrupted");
            return 130;
        }
        catch (FerryException e)
        {
            await Console.Error.WriteLineAsync($"ferry: {e.ToOneLine()}");
            if (parse.GetValue(Verbose))
            {
                await Console.Error.WriteLineAsync($"  error id {e.ErrorId}, class {e.Class}; hint: {e.Code.Hint}");
                if (e.InnerException is not null) await Console.Error.WriteLineAsync(e.InnerException.ToString());
            }

            return ExitCodes.For(e);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            await Console.Error.WriteLineAsync("ferry: interrupted");
            return 130;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Anything not already a Ferry error is a bug: still one line with a code and an error id, never a stack
            // trace unless asked for.
            var error = new FerryException(ErrorCodes.Internal, $"unexpected {e.GetType().Name}: {e.Message}", innerException: e);
            await Console.Error.WriteLineAsync($"ferry: {error.ToOneLine()}");
            if (parse.GetValue(Verbose)) await Console.Error.WriteLineAsync(e.ToString());
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
            await using var store = await MetaStoreFactory.OpenAsync(parse.GetValue(Meta), ct);
            return await body(store, output, ct);
        }, cancellationToken);

    public static string OperatorId() => $"{Environment.MachineName}:{Environment.ProcessId}";
}
