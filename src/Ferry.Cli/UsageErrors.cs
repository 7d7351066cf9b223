using System.CommandLine;
using System.CommandLine.Parsing;
using Ferry.Errors;

namespace Ferry.Cli;

/// <summary>
/// What is wrong with a command line, one line per problem, before any command runs.
/// </summary>
/// <remarks>
/// System.CommandLine reports an unknown option only when nothing is left to take it as a value: after a variadic
/// argument (<c>replicate DB...</c>), in a NAME slot or after an option that takes a value (<c>--db a.db --bogus</c>,
/// <c>--message --bogus</c>) it binds <c>--bogus</c> as a value and the command runs with it. So here every token the
/// parser read as a value and that looks like an option is an unrecognized option, except:
/// <list type="bullet">
/// <item>a negative number or anything else that starts with '-' and a digit (<c>--generation -1</c>, <c>-1s</c>): a value
/// the command then checks;</item>
/// <item>a lone <c>-</c>;</item>
/// <item>a value attached to its option with '=' or ':' (<c>--message=--urgent</c>);</item>
/// <item>anything after <c>--</c>, which ends the options (<c>ferry replicate --to ./b -- -x.db</c>).</item>
/// </list>
/// When there is an unrecognized option, it is the only thing reported: a misplaced option shifts every value after
/// it, so the parser's other complaints would point at the wrong thing.
/// </remarks>
internal static class UsageErrors
{
    public static IReadOnlyList<string> Find(ParseResult parse, IReadOnlyList<string> args)
    {
        ArgumentNullException.ThrowIfNull(parse);
        ArgumentNullException.ThrowIfNull(args);
        var unknown = UnknownOptions(parse, args);
        return unknown.Count > 0 ? unknown : [.. parse.Errors.Select(e => WithoutCredentials(e.Message, parse))];
    }

    /// <summary>The parser's messages quote what was typed: a URL among it shows without its user, password or query.</summary>
    private static string WithoutCredentials(string message, ParseResult parse)
    {
        foreach (var token in parse.Tokens)
        {
            var redacted = Redaction.Url(token.Value);
            if (redacted != token.Value) message = message.Replace(token.Value, redacted, StringComparison.Ordinal);
        }

        return message;
    }

    private static List<string> UnknownOptions(ParseResult parse, IReadOnlyList<string> args)
    {
        var attached = AttachedValues(args);
        var errors = new List<string>();
        Token? previous = null;
        foreach (var token in parse.Tokens)
        {
            if (token.Type == TokenType.DoubleDash) break;
            var isAttachedValue = previous is { Type: TokenType.Option } option && attached.Remove((option.Value, token.Value));
            if (token.Type == TokenType.Argument && LooksLikeOption(token.Value) && !isAttachedValue)
            {
                errors.Add($"unrecognized option '{Redaction.Url(token.Value)}'");
            }

            previous = token;
        }

        return errors;
    }

    /// <summary>'-' and a letter or another '-'; not a lone '-', not a negative number (-1, -.5, -1s).</summary>
    private static bool LooksLikeOption(string value) =>
        value.Length > 1 && value[0] == '-' && !char.IsAsciiDigit(value[1]) && value[1] != '.';

    /// <summary>
    /// Every <c>--option=value</c> (or <c>--option:value</c>) as written: the tokenizer splits them into an option token
    /// and a value token, and this is the only way left to tell that the value was given as one.
    /// </summary>
    private static List<(string Option, string Value)> AttachedValues(IReadOnlyList<string> args)
    {
        var attached = new List<(string, string)>();
        foreach (var arg in args)
        {
            if (arg == "--") break;
            if (!arg.StartsWith('-')) continue;
            var split = arg.IndexOfAny(['=', ':']);
            if (split > 0) attached.Add((arg[..split], arg[(split + 1)..]));
        }

        return attached;
    }
}
