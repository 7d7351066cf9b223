using Ferry.Errors;

namespace Ferry.Tasks;

/// <summary>Who an error belongs to (DESIGN §4, Scope): every stream of the task, or one database.</summary>
internal enum ErrorScope
{
    /// <summary>Shared by every stream of the task (storage full, permission denied, bucket missing): pause the task.</summary>
    Task,

    /// <summary>Belongs to one database (deleted, not in WAL mode, corrupt): quarantine that stream only.</summary>
    Stream,
}

internal static class ErrorScopes
{
    /// <summary>Database-area errors belong to their database; everything else is shared by the task.</summary>
    public static ErrorScope Of(FerryException error)
    {
        ArgumentNullException.ThrowIfNull(error);
        return error.Code.Area == "Database" ? ErrorScope.Stream : ErrorScope.Task;
    }
}
