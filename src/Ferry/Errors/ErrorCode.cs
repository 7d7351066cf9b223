namespace Ferry.Errors;

/// <summary>
/// One entry of the error registry: a stable code <c>FERRY:&lt;Area&gt;:&lt;Name&gt;</c>, its class and a hint
/// telling the operator what to do. Codes are never renamed once released; add a new one instead.
/// </summary>
public sealed class ErrorCode
{
    internal ErrorCode(string area, string name, ErrorClass errorClass, string hint)
    {
        Area = area;
        Name = name;
        Class = errorClass;
        Hint = hint;
        Code = $"FERRY:{area}:{name}";
    }

    /// <summary>The full stable code, e.g. <c>FERRY:Storage:QuotaExceeded</c>.</summary>
    public string Code { get; }

    /// <summary>The component the error comes from: Meta, Storage, Task, Config, Fence, …</summary>
    public string Area { get; }

    public string Name { get; }

    public ErrorClass Class { get; }

    /// <summary>One line telling the operator what to do about it.</summary>
    public string Hint { get; }

    public override string ToString() => Code;
}
