using System.Globalization;
using System.Security.Cryptography;

namespace Ferry.Replica;

/// <summary>
/// A generation's id: its creation time as 12 hex digits of Unix milliseconds, then 8 random hex digits, so ids
/// sort by creation time and two writers starting a generation in the same millisecond still differ.
/// </summary>
public readonly record struct GenerationId
{
    public const int Length = 20;

    private GenerationId(string value) => Value = value;

    public string Value { get; }

    /// <summary>When the generation was created (millisecond precision), read back from the id.</summary>
    public DateTimeOffset CreatedAt =>
        DateTimeOffset.FromUnixTimeMilliseconds(long.Parse(Value.AsSpan(0, 12), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture));

    public static GenerationId New(DateTimeOffset createdAt)
    {
        var ms = createdAt.ToUnixTimeMilliseconds();
        if (ms is < 0 or > 0xFFFF_FFFF_FFFF) throw new ArgumentOutOfRangeException(nameof(createdAt), createdAt, "outside the range a generation id can hold");
        return new GenerationId(ms.ToString("x12", CultureInfo.InvariantCulture) + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4)));
    }

    public static bool TryParse(string? text, out GenerationId id)
    {
        id = default;
        if (text is not { Length: Length } || !text.All(c => char.IsAsciiDigit(c) || c is >= 'a' and <= 'f')) return false;
        id = new GenerationId(text);
        return true;
    }

    public static GenerationId Parse(string text) =>
        TryParse(text, out var id) ? id : throw new FormatException($"'{text}' is not a generation id (20 lower-case hex digits)");

    public override string ToString() => Value ?? "";
}
