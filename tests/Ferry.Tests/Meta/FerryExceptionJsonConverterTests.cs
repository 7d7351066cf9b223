using System.Text.Json;
using Ferry.Errors;
using Ferry.Meta;

namespace Ferry.Tests.Meta;

public sealed class FerryExceptionJsonConverterTests
{
    private sealed record Holder(string Name, FerryException? LastError);

    [Fact]
    public void Serialize_ThrownErrorInAReport_WritesCodeIdAndContextInsteadOfFailing()
    {
        FerryException error;
        try
        {
            throw new FerryException(ErrorCodes.StorageUnavailable, "connection refused", new ErrorContext(Task: "app", Database: "/d/app.db"));
        }
        catch (FerryException thrown)
        {
            // Thrown, so TargetSite and StackTrace are set: what plain System.Text.Json could not write.
            error = thrown;
        }

        error.AddSuppressed(new IOException("close failed"));

        using var json = JsonDocument.Parse(JsonSerializer.Serialize(new Holder("t1", error), MetaJson.OutputOptions));

        var written = json.RootElement.GetProperty("last_error");
        Assert.Equal("FERRY:Storage:Unavailable", written.GetProperty("code").GetString());
        Assert.Equal("Transient", written.GetProperty("class").GetString());
        Assert.Equal("connection refused", written.GetProperty("message").GetString());
        Assert.Equal(error.ErrorId, written.GetProperty("error_id").GetString());
        Assert.Contains("/d/app.db", written.GetProperty("context").GetString(), StringComparison.Ordinal);
        Assert.Equal("IOException: close failed", written.GetProperty("suppressed")[0].GetString());
    }

    [Fact]
    public void Serialize_NoError_WritesNull()
    {
        using var json = JsonDocument.Parse(JsonSerializer.Serialize(new Holder("t1", null), MetaJson.OutputOptions));

        Assert.Equal(JsonValueKind.Null, json.RootElement.GetProperty("last_error").ValueKind);
    }
}
