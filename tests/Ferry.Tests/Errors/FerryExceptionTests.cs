using Ferry.Errors;

namespace Ferry.Tests.Errors;

public sealed class FerryExceptionTests
{
    [Fact]
    public void Class_ComesFromTheCode()
    {
        var error = new FerryException(ErrorCodes.StorageQuotaExceeded, "disk full");

        Assert.Equal(ErrorClass.Permanent, error.Class);
    }

    [Fact]
    public void AddSuppressed_CascadeErrors_KeptWithoutReplacingTheFirst()
    {
        var first = new FerryException(ErrorCodes.StorageIo, "write failed", new ErrorContext(Task: "t"));
        var cascade = new IOException("close failed too");

        first.AddSuppressed(cascade);
        first.AddSuppressed(first);

        Assert.Equal("write failed", first.Message);
        Assert.Same(ErrorCodes.StorageIo, first.Code);
        Assert.Equal([cascade], first.Suppressed);
    }

    [Fact]
    public void ToOneLine_WithContext_NamesCodeMessageAndContext()
    {
        var error = new FerryException(
            ErrorCodes.DatabaseNotFound, "app.db is gone", new ErrorContext("t1", 7, "/data/app.db", "capture"));

        Assert.Equal("FERRY:Database:NotFound: app.db is gone (task=t1 store=7 db=/data/app.db op=capture)", error.ToOneLine());
    }

    [Fact]
    public void ErrorId_IsShortHexAndDiffersBetweenErrors()
    {
        var a = new FerryException(ErrorCodes.Internal, "a");
        var b = new FerryException(ErrorCodes.Internal, "b");

        Assert.Matches("^[0-9a-f]{8}$", a.ErrorId);
        Assert.NotEqual(a.ErrorId, b.ErrorId);
    }
}
