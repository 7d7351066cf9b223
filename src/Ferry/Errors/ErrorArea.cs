namespace Ferry.Errors;

/// <summary>
/// Which component an exception came from. The same .NET exception means different things in different
/// places: an <see cref="IOException"/> with ENOSPC is "storage full" when writing a segment and
/// "disk full" on the database's own disk.
/// </summary>
public enum ErrorArea
{
    Meta,
    Storage,
    Database,
}
