namespace Ferry.Errors;

/// <summary>Where an error happened. Every field is optional; the reporter prints what is set.</summary>
public sealed record ErrorContext(
    string? Task = null,
    long? StoreId = null,
    string? Database = null,
    string? Operation = null)
{
    public static readonly ErrorContext None = new();

    /// <summary>Short "task=… store=… db=… op=…" form for messages and logs.</summary>
    public override string ToString()
    {
        var parts = new List<string>(4);
        if (Task is not null) parts.Add($"task={Task}");
        if (StoreId is not null) parts.Add($"store={StoreId}");
        if (Database is not null) parts.Add($"db={Database}");
        if (Operation is not null) parts.Add($"op={Operation}");
        return string.Join(' ', parts);
    }
}
