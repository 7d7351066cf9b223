using System.CommandLine;
using Ferry.Errors;
using Spectre.Console;

namespace Ferry.Cli.Commands;

/// <summary><c>ferry errors</c>: every error code with its class and hint.</summary>
internal static class ErrorsCommand
{
    public static Command Build()
    {
        var markdown = new Option<bool>("--markdown") { Description = "Print docs/errors.md (generated from the same registry)." };
        var command = new Command("errors", "List every error code Ferry can report, with its class and what to do.") { markdown };
        command.SetAction((parse, ct) => CommandRunner.RunAsync(parse, async (output, _) =>
        {
            if (parse.GetValue(markdown))
            {
                await output.WriteAsync(ErrorsDocument.Render());
                return ExitCodes.Ok;
            }

            var table = new Table().AddColumns("code", "class", "what to do");
            foreach (var code in ErrorCodes.All)
            {
                table.AddRow(Markup.Escape(code.Code), code.Class.ToString(), Markup.Escape(code.Hint));
            }

            Terminal.For(output).Write(table);
            return ExitCodes.Ok;
        }, ct));
        return command;
    }
}
