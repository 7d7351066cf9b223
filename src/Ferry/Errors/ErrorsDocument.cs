using System.Text;

namespace Ferry.Errors;

/// <summary>Renders the registry as the user documentation in <c>docs/errors.md</c>.</summary>
internal static class ErrorsDocument
{
    public static string Render()
    {
        var text = new StringBuilder();
        text.Append("""
            # Ferry error codes

            Generated from the error registry (`src/Ferry/Errors/ErrorCodes.cs`) by `ferry errors --markdown`;
            a test fails when this file and the registry differ.

            Every error Ferry reports has a stable code `FERRY:<Area>:<Name>` and a class that decides how it is
            handled:

            | class | handled by |
            | --- | --- |
            | Expected | the caller, inline; never reported as an error |
            | Transient | retried with exponential backoff and jitter; escalates to Permanent after the task's retry budget |
            | Permanent | reported; pauses the task (`PAUSED_DUE_TO_ERROR`) or quarantines the one database it belongs to |
            | Integrity | reported and paused; never fixed silently |
            | SessionLost | the agent stops its runners, takes a new lease and re-registers |
            | Fenced | the process stops writing at once (exit 0 for a newer deploy generation, 75 for an epoch fence) |
            | Cancelled | shutdown or pause; not an error |
            | Internal | a bug: reported with its error id; pauses that task only |

            A task paused by an error resumes with `ferry task resume NAME --clear-error` once the cause is fixed.


            """);
        foreach (var area in ErrorCodes.All.GroupBy(c => c.Area))
        {
            text.Append("## ").Append(area.Key).Append("\n\n| code | class | what to do |\n| --- | --- | --- |\n");
            foreach (var code in area)
            {
                text.Append("| `").Append(code.Code).Append("` | ").Append(code.Class).Append(" | ")
                    .Append(code.Hint.Replace("|", "\\|", StringComparison.Ordinal)).Append(" |\n");
            }

            text.Append('\n');
        }

        return text.ToString().TrimEnd('\n') + "\n";
    }
}
