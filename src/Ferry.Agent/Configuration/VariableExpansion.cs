using System.Text;
using Ferry.Errors;

namespace Ferry.Agent.Configuration;

/// <summary>
/// <c>${NAME}</c> in a configuration value stands for the environment variable NAME, so a secret need not be written
/// in the file; <c>$${</c> is a literal <c>${</c>, and any other <c>$</c> is itself. An unset variable is an error
/// naming the key and the variable. What a value expands to is never shown: messages quote the value as written.
/// </summary>
internal static class VariableExpansion
{
    /// <summary>The value with its variables replaced, and the names of those variables (none: the value as written).</summary>
    public static (string Value, IReadOnlyList<string> Variables) Expand(string key, string text, Func<string, string?> variables)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(variables);
        if (!text.Contains('$', StringComparison.Ordinal)) return (text, []);
        var result = new StringBuilder(text.Length);
        var used = new List<string>();
        var at = 0;
        while (at < text.Length)
        {
            if (text[at] != '$')
            {
                result.Append(text[at++]);
                continue;
            }

            if (string.CompareOrdinal(text, at, "$${", 0, 3) == 0)
            {
                result.Append("${");
                at += 3;
                continue;
            }

            if (string.CompareOrdinal(text, at, "${", 0, 2) != 0)
            {
                result.Append(text[at++]);
                continue;
            }

            var close = text.IndexOf('}', at + 2);
            var name = close < 0 ? null : text[(at + 2)..close];
            if (name is null || !IsName(name))
            {
                throw new FerryException(
                    ErrorCodes.ConfigInvalid,
                    $"{key}: '{text}' has a '${{' that does not start a variable: write ${{NAME}} (letters, digits and '_'), or $${{ for a literal '${{'");
            }

            var value = variables(name)
                ?? throw new FerryException(
                    ErrorCodes.ConfigInvalid,
                    $"{key}: the environment variable {name} is not set (the value is '{text}'): set it, or write $${{ for a literal '${{'");
            result.Append(value);
            if (!used.Contains(name, StringComparer.Ordinal)) used.Add(name);
            at = close + 1;
        }

        return (result.ToString(), used);
    }

    private static bool IsName(string name) =>
        name.Length > 0 && (char.IsAsciiLetter(name[0]) || name[0] == '_') && name.All(c => char.IsAsciiLetterOrDigit(c) || c == '_');
}
