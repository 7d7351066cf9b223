using Microsoft.Extensions.Logging;

namespace Ferry.Errors;

/// <summary>
/// Reports an error: one structured log line (code, class, id, context) and <c>ferry_errors_total{code,class,task}</c>.
/// Expected outcomes and cancellations are not errors and are not reported. Each error is reported once: a stream
/// supervisor reports what it caught and the task's error recorder passes the same instance on to the metadata
/// store, which must not log it a second time nor count it twice.
/// </summary>
public sealed class ErrorReporter(ILogger<ErrorReporter> logger, IErrorCounters metrics)
{
    /// <summary>Returns false when the error is of a class that is never reported (Expected, Cancelled), or was reported already.</summary>
    public bool Report(FerryException error)
    {
        ArgumentNullException.ThrowIfNull(error);
        if (error.Class is ErrorClass.Expected or ErrorClass.Cancelled) return false;
        if (!error.TryMarkReported()) return false;

        var c = error.Context;
        if (error.Class == ErrorClass.Transient)
        {
            Log.TransientReported(logger, error.Code.Code, error.Class, error.Message, error.ErrorId, c.Task, c.StoreId, c.Database, c.Operation, error.InnerException);
        }
        else
        {
            Log.ErrorReported(logger, error.Code.Code, error.Class, error.Message, error.ErrorId, c.Task, c.StoreId, c.Database, c.Operation, error.InnerException);
        }

        foreach (var suppressed in error.Suppressed)
        {
            Log.Suppressed(logger, error.ErrorId, suppressed is FerryException f ? f.ToOneLine() : suppressed.Message);
        }

        metrics.ErrorsTotal.Add(
            1,
            new KeyValuePair<string, object?>("code", error.Code.Code),
            new KeyValuePair<string, object?>("class", error.Class.ToString()),
            new KeyValuePair<string, object?>("task", c.Task ?? ""));
        return true;
    }

    /// <summary>Reports that recording <paramref name="error"/> in the metadata store failed; the original stays the error.</summary>
    public void ReportRecordingFailed(FerryException error, Exception failure)
    {
        ArgumentNullException.ThrowIfNull(error);
        ArgumentNullException.ThrowIfNull(failure);
        var text = failure is FerryException f ? f.ToOneLine() : failure.Message;
        Log.ReportFailed(logger, error.ErrorId, error.Code.Code, error.Context.Task, text, failure);
        metrics.ReportFailuresTotal.Add(1, new KeyValuePair<string, object?>("task", error.Context.Task ?? ""));
    }
}
