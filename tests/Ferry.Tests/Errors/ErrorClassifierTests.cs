using System.Net.Sockets;
using System.Text.Json;
using Ferry.Errors;
using Microsoft.Data.Sqlite;

namespace Ferry.Tests.Errors;

public sealed class ErrorClassifierTests
{
    [Fact]
    public void Classify_RealEnospcFromDevFull_IsStorageQuotaExceeded()
    {
        // /dev/full fails every write with ENOSPC: a real "disk full" from the kernel, not a constructed exception.
        var error = Assert.ThrowsAny<IOException>(() =>
        {
            using var full = new FileStream("/dev/full", FileMode.Open, FileAccess.Write);
            full.Write(new byte[4096]);
            full.Flush();
        });

        var ferry = ErrorClassifier.Classify(error, ErrorArea.Storage);

        Assert.Same(ErrorCodes.StorageQuotaExceeded, ferry.Code);
        Assert.Equal(ErrorClass.Permanent, ferry.Class);
        Assert.Same(error, ferry.InnerException);
    }

    [Theory]
    [InlineData(28, ErrorArea.Storage, "FERRY:Storage:QuotaExceeded")]
    [InlineData(122, ErrorArea.Storage, "FERRY:Storage:QuotaExceeded")]
    [InlineData(28, ErrorArea.Database, "FERRY:Database:DiskFull")]
    [InlineData(13, ErrorArea.Storage, "FERRY:Storage:PermissionDenied")]
    [InlineData(1, ErrorArea.Storage, "FERRY:Storage:PermissionDenied")]
    [InlineData(30, ErrorArea.Database, "FERRY:Database:PermissionDenied")]
    [InlineData(5, ErrorArea.Storage, "FERRY:Storage:Io")]
    [InlineData(5, ErrorArea.Meta, "FERRY:Meta:Io")]
    public void Classify_IOExceptionWithErrno_MapsByArea(int errno, ErrorArea area, string expected)
    {
        var error = ErrorClassifier.Classify(new IOException("boom", errno), area);

        Assert.Equal(expected, error.Code.Code);
    }

    [Fact]
    public void Classify_UnauthorizedAccess_IsPermissionDenied()
    {
        Assert.Same(ErrorCodes.StoragePermissionDenied, ErrorClassifier.Classify(new UnauthorizedAccessException("no"), ErrorArea.Storage).Code);
    }

    [Fact]
    public void Classify_CancelledByCaller_IsCancelledNotAnError()
    {
        using var cts = new CancellationTokenSource();
        cts.Cancel();

        var error = ErrorClassifier.Classify(new OperationCanceledException(cts.Token), ErrorArea.Meta, callerToken: cts.Token);

        Assert.Equal(ErrorClass.Cancelled, error.Class);
    }

    [Fact]
    public void Classify_CancelledByDeadlineNotCaller_IsTimeout()
    {
        var error = ErrorClassifier.Classify(new TaskCanceledException(), ErrorArea.Meta, callerToken: CancellationToken.None);

        Assert.Same(ErrorCodes.MetaTimeout, error.Code);
        Assert.Equal(ErrorClass.Transient, error.Class);
    }

    [Fact]
    public void Classify_SocketRefused_IsUnavailable()
    {
        var refused = new SocketException((int)SocketError.ConnectionRefused);

        Assert.Same(ErrorCodes.StorageUnavailable, ErrorClassifier.Classify(refused, ErrorArea.Storage).Code);
        Assert.Same(ErrorCodes.MetaUnavailable, ErrorClassifier.Classify(refused, ErrorArea.Meta).Code);
        Assert.Same(ErrorCodes.StorageUnavailable, ErrorClassifier.Classify(new IOException("reset", refused), ErrorArea.Storage).Code);
    }

    [Fact]
    public void Classify_RealSqliteBusy_IsTransientDatabaseBusy()
    {
        using var dir = new Ferry.TestKit.TempDirectory("busy");
        var path = dir.File("busy.db");
        using var holder = new SqliteConnection($"Data Source={path};Pooling=False");
        holder.Open();
        using (var create = holder.CreateCommand())
        {
            create.CommandText = "PRAGMA journal_mode=WAL; CREATE TABLE t(x);";
            create.ExecuteNonQuery();
        }

        using var writeLock = holder.BeginTransaction(deferred: false);
        using var other = new SqliteConnection($"Data Source={path};Pooling=False;Default Timeout=1");
        other.Open();
        using var insert = other.CreateCommand();
        insert.CommandText = "INSERT INTO t VALUES (1)";
        // Microsoft.Data.Sqlite treats a timeout of 0 as "wait forever"; one second is the shortest bounded wait.
        insert.CommandTimeout = 1;
        var busy = Assert.Throws<SqliteException>(() => insert.ExecuteNonQuery());

        var error = ErrorClassifier.Classify(busy, ErrorArea.Database);

        Assert.Same(ErrorCodes.DatabaseBusy, error.Code);
        Assert.Equal(ErrorClass.Transient, error.Class);
    }

    [Fact]
    public void Classify_JsonException_IsCorruptValue()
    {
        Assert.Same(ErrorCodes.MetaCorruptValue, ErrorClassifier.Classify(new JsonException("bad"), ErrorArea.Meta).Code);
    }

    [Fact]
    public void Classify_FerryException_ReturnedUnchanged()
    {
        var original = new FerryException(ErrorCodes.TaskNotFound, "x");

        Assert.Same(original, ErrorClassifier.Classify(original, ErrorArea.Meta));
        Assert.Same(original, ErrorClassifier.Classify(new AggregateException(original), ErrorArea.Meta));
    }

    [Fact]
    public void Classify_UnknownException_IsInternal()
    {
        var error = ErrorClassifier.Classify(new InvalidOperationException("invariant"), ErrorArea.Storage);

        Assert.Same(ErrorCodes.Internal, error.Code);
        Assert.Contains("invariant", error.Message);
    }
}
