using System.Diagnostics.Metrics;

namespace Ferry.Errors;

/// <summary>
/// The counters an <see cref="ErrorReporter"/> adds to: <c>ferry_errors_total{code,class,task}</c> and
/// <c>ferry_report_failures_total{task}</c>. FerryMetrics (Diagnostics) provides them; the error
/// core only knows this much of metrics.
/// </summary>
public interface IErrorCounters
{
    Counter<long> ErrorsTotal { get; }

    Counter<long> ReportFailuresTotal { get; }
}
