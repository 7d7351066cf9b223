using Ferry.Errors;

namespace Ferry.Storage;

public enum StorageKind
{
    File,
    S3,
}

/// <summary>
/// Where a task's backups go: <c>file:///absolute/dir</c>, a plain directory path (made absolute), or
/// <c>s3://bucket[/prefix]</c>. <see cref="ToString"/> gives the normalized form stored in the task.
/// </summary>
public sealed record StorageUrl(StorageKind Kind, string Location, string? Bucket = null, string? Prefix = null)
{
    public static StorageUrl Parse(string url)
    {
        ArgumentNullException.ThrowIfNull(url);
        if (url.Length == 0) throw Invalid(url, "it is empty");
        if (url.StartsWith("s3://", StringComparison.Ordinal))
        {
            // A query string would be kept in the task and shown wherever the URL is (a presigned signature, say).
            if (url.Contains('?', StringComparison.Ordinal)) throw Invalid(url, "an s3:// URL takes no query string; use s3://bucket/prefix");
            var rest = url["s3://".Length..].Trim('/');
            var slash = rest.IndexOf('/');
            var bucket = slash < 0 ? rest : rest[..slash];
            var prefix = slash < 0 ? "" : rest[(slash + 1)..];
            if (bucket.Length is < 3 or > 63 || !bucket.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c is '-' or '.'))
            {
                // Credentials come from the environment only. An '@' with no valid bucket before it is user:password@,
                // and what was read as the bucket may be part of the password: name neither.
                throw url.Contains('@', StringComparison.Ordinal)
                    ? Invalid(url, "credentials don't go in the URL; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY instead")
                    : Invalid(url, $"'{bucket}' is not a valid bucket name (3-63 lower-case letters, digits, '-' or '.')");
            }

            return new StorageUrl(StorageKind.S3, url, bucket, prefix);
        }

        if (url.StartsWith("file://", StringComparison.Ordinal))
        {
            var path = url["file://".Length..];
            if (!path.StartsWith('/')) throw Invalid(url, "a file:// URL needs an absolute path (file:///dir)");
            return new StorageUrl(StorageKind.File, Path.GetFullPath(path));
        }

        var colon = url.IndexOf("://", StringComparison.Ordinal);
        if (colon > 0)
        {
            // Named only when it is a scheme: before "://" may stand anything, a password too.
            var scheme = url[..colon];
            throw Invalid(url, scheme.All(c => char.IsAsciiLetterOrDigit(c) || c is '+' or '-' or '.')
                ? $"scheme '{scheme}' is not supported; use a directory, file:///dir or s3://bucket/prefix"
                : "use a directory, file:///dir or s3://bucket/prefix");
        }

        return new StorageUrl(StorageKind.File, Path.GetFullPath(url));
    }

    public override string ToString() => Kind == StorageKind.File ? $"file://{Location}" : Location;

    private static FerryException Invalid(string url, string why) =>
        new(ErrorCodes.ConfigInvalidStorageUrl, $"invalid storage URL '{Redaction.Url(url)}': {why}");
}
