namespace Ferry.Storage;

/// <summary>
/// The object names Ferry uses: '/'-separated, each part non-empty, made of ASCII letters, digits and
/// <c>. _ - ! ~</c>, never "." or "..", never starting with '.' (FileStorage keeps its temp files under
/// dot-names). Safe as file paths and as S3 keys; anything else is a bug in the caller.
/// </summary>
internal static class ObjectNames
{
    /// <summary>Most file systems allow 255 bytes per path component.</summary>
    public const int MaxPartLength = 255;

    public static bool IsValid(string name)
    {
        if (string.IsNullOrEmpty(name)) return false;
        foreach (var part in name.Split('/'))
        {
            if (part.Length is 0 or > MaxPartLength || part[0] == '.') return false;
            foreach (var c in part)
            {
                if (!(char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-' or '!' or '~')) return false;
            }
        }

        return true;
    }

    public static void Validate(string name)
    {
        if (!IsValid(name)) throw new ArgumentException($"'{name}' is not a valid object name", nameof(name));
    }

    /// <summary>A prefix is a valid name, a valid name followed by '/', or empty.</summary>
    public static void ValidatePrefix(string prefix)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        if (prefix.Length == 0) return;
        var trimmed = prefix.EndsWith('/') ? prefix[..^1] : prefix;
        if (!IsValid(trimmed)) throw new ArgumentException($"'{prefix}' is not a valid object name prefix", nameof(prefix));
    }
}
