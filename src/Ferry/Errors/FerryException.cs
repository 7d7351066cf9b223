using System.Security.Cryptography;

namespace Ferry.Errors;

/// <summary>
/// The only exception type that leaves a Ferry component: a registered code (which decides the class),
/// a message a person can act on, the context, a short error id, and any errors that followed it.
/// </summary>
public sealed class FerryException : Exception
{
    private readonly List<Exception> _suppressed = [];
    private int _reported;

    public FerryException(ErrorCode code, string message, ErrorContext? context = null, Exception? innerException = null)
        : base(message, innerException)
    {
        Code = code;
        Context = context ?? ErrorContext.None;
        ErrorId = NewErrorId();
    }

    public FerryException()
        : this(ErrorCodes.Internal, "unspecified Ferry error")
    {
    }

    public FerryException(string message)
        : this(ErrorCodes.Internal, message)
    {
    }

    public FerryException(string message, Exception innerException)
        : this(ErrorCodes.Internal, message, null, innerException)
    {
    }

    public ErrorCode Code { get; }

    public ErrorClass Class => Code.Class;

    public ErrorContext Context { get; private set; }

    /// <summary>A short id shown in the log line, the LastError record and the CLI, to go from one to the other.</summary>
    public string ErrorId { get; }

    /// <summary>Errors that happened while handling or cleaning up after this one; they never replace it.</summary>
    public IReadOnlyList<Exception> Suppressed
    {
        get
        {
            lock (_suppressed)
            {
                return _suppressed.ToArray();
            }
        }
    }

    public void AddSuppressed(Exception exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        if (ReferenceEquals(exception, this)) return;
        lock (_suppressed)
        {
            _suppressed.Add(exception);
        }
    }

    /// <summary>
    /// Fills in what the context does not say yet (task, store, database, operation) from where the error surfaced:
    /// a storage or capture error knows its operation, its stream knows the task. What is set stays; the id stays.
    /// </summary>
    public void AddContextDefaults(ErrorContext outer)
    {
        ArgumentNullException.ThrowIfNull(outer);
        var c = Context;
        Context = new ErrorContext(c.Task ?? outer.Task, c.StoreId ?? outer.StoreId, c.Database ?? outer.Database, c.Operation ?? outer.Operation);
    }

    /// <summary>
    /// True the first time only: an error is reported (logged and counted) once, however many handlers it passes
    /// through on its way to being recorded.
    /// </summary>
    internal bool TryMarkReported() => Interlocked.Exchange(ref _reported, 1) == 0;

    /// <summary>One line for people: "FERRY:Area:Name: message (context)".</summary>
    public string ToOneLine()
    {
        var context = Context.ToString();
        return context.Length == 0 ? $"{Code.Code}: {Message}" : $"{Code.Code}: {Message} ({context})";
    }

    private static string NewErrorId() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
}
