using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Ferry.Hosting;

/// <summary><c>AddHealthChecks().AddFerry()</c>, and a response writer that shows each check's data as JSON.</summary>
public static class FerryHealthChecks
{
    /// <summary>The check's default name, the key of its entry in a health report.</summary>
    public const string DefaultName = "ferry";

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull,

        // Read by people and tools, not embedded in HTML: paths and hints stay as written.
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary>Adds <see cref="FerryHealthCheck"/> (it needs <c>AddFerry</c> on the same services).</summary>
    public static IHealthChecksBuilder AddFerry(this IHealthChecksBuilder builder, string name = DefaultName, IEnumerable<string>? tags = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddCheck<FerryHealthCheck>(name, failureStatus: null, tags: tags ?? []);
    }

    /// <summary>
    /// Writes a health report as JSON: <c>{"status", "total_duration_ms", "checks": {NAME: {"status", "description",
    /// "duration_ms", "data"}}}</c>, for <c>HealthCheckOptions.ResponseWriter</c>. The default writer prints the status
    /// alone; this one shows Ferry's task states, error code and hint. Exceptions of a check are shown by message only.
    /// </summary>
    public static Task WriteResponseAsync(HttpContext context, HealthReport report)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(report);
        var body = new Dictionary<string, object?>(StringComparer.Ordinal)
        {
            ["status"] = report.Status.ToString(),
            ["total_duration_ms"] = Math.Round(report.TotalDuration.TotalMilliseconds, 1),
            ["checks"] = report.Entries.ToDictionary(
                e => e.Key,
                e => new Dictionary<string, object?>(StringComparer.Ordinal)
                {
                    ["status"] = e.Value.Status.ToString(),
                    ["description"] = e.Value.Description ?? e.Value.Exception?.Message,
                    ["duration_ms"] = Math.Round(e.Value.Duration.TotalMilliseconds, 1),
                    ["data"] = e.Value.Data,
                },
                StringComparer.Ordinal),
        };
        context.Response.ContentType = "application/json; charset=utf-8";
        return JsonSerializer.SerializeAsync(context.Response.Body, body, Json, context.RequestAborted);
    }
}
