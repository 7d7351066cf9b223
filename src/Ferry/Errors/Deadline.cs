namespace Ferry.Errors;

/// <summary>
/// A deadline is not a cancellation (STYLE, after Polly's timeout strategy). Code that bounds a call with a deadline
/// of its own runs it here: when the deadline, not the caller, ended the call, the cancellation it caused (raw, or
/// a Ferry error of class Cancelled from a component that could not tell the two apart) becomes the area's Timeout
/// error, which is reported, instead of a cancellation, which never is.
/// </summary>
internal static class Deadline
{
    public static async Task RunAsync(
        TimeSpan limit, ErrorArea area, ErrorContext context, Func<CancellationToken, Task> call, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(call);
        await RunAsync(limit, area, context, async token =>
        {
            await call(token).ConfigureAwait(false);
            return true;
        }, cancellationToken).ConfigureAwait(false);
    }

    public static async Task<T> RunAsync<T>(
        TimeSpan limit, ErrorArea area, ErrorContext context, Func<CancellationToken, Task<T>> call, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(call);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(limit);
        try
        {
            return await call(deadline.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or FerryException { Class: ErrorClass.Cancelled }
            && deadline.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new FerryException(
                ErrorClassifier.Timeout(area),
                $"{context.Operation ?? "the operation"} did not finish within its deadline of {limit.TotalSeconds:0.#} s",
                context,
                e);
        }
    }
}
