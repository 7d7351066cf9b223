using System.Security.Cryptography;
using Ferry.Diagnostics;
using Ferry.Errors;
using Ferry.Storage.Internal;

namespace Ferry.Storage;

/// <summary>
/// Objects as files under a root directory (file:// URLs and plain paths). A put writes a temp file next to the
/// object, fsyncs it, publishes it with <c>link(2)</c> (atomic, fails if the name exists: put-if-absent without a
/// check-then-act race), removes the temp name and fsyncs the directory. Temp files are dot-names, never listed,
/// and removed on every failure path.
/// </summary>
public sealed class FileStorage : IObjectStorage
{
    private const int CopyBufferSize = 1 << 16;

    public FileStorage(string root)
    {
        ArgumentException.ThrowIfNullOrEmpty(root);
        Root = Path.GetFullPath(root);
        if (!Directory.Exists(Root))
        {
            // Never create the root: a missing mount point would silently fill the disk under it.
            throw new FerryException(ErrorCodes.StorageNotFound, $"storage directory {Root} does not exist; create it or fix the URL",
                new ErrorContext(Operation: "open storage"));
        }
    }

    public string Root { get; }

    public string Description => $"file://{Root}";

    public async Task<bool> PutIfAbsentAsync(string name, Stream content, CancellationToken cancellationToken = default)
    {
        await Failpoints.HitAsync("storage.put", cancellationToken);
        ObjectNames.Validate(name);
        ArgumentNullException.ThrowIfNull(content);
        var path = PathOf(name);
        var directory = Path.GetDirectoryName(path)!;
        var temp = Path.Combine(directory, $".{Path.GetFileName(path)}.{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6))}.tmp");
        var context = new ErrorContext(Operation: $"put {name}");
        try
        {
            var newDirectories = CreateDirectories(directory);

            // bufferSize 1: no FileStream buffer, so a failed write can't fail again at dispose.
            var file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 1, FileOptions.Asynchronous);
            await using (file)
            {
                await content.CopyToAsync(file, CopyBufferSize, cancellationToken);
                file.Flush(flushToDisk: true);
            }

            // A put stopped while it wrote (a fenced writer is aborted) publishes nothing.
            cancellationToken.ThrowIfCancellationRequested();
            var created = Posix.LinkNoReplace(temp, path);
            File.Delete(temp);
            Posix.FsyncDirectory(directory);

            // New directories are durable only once their parents are synced, deepest first.
            foreach (var newDirectory in newDirectories)
            {
                Posix.FsyncDirectory(Path.GetDirectoryName(newDirectory)!);
            }

            return created;
        }
        catch (Exception e)
        {
            var error = ErrorClassifier.Classify(e, ErrorArea.Storage, context, cancellationToken);
            RemoveTemp(temp, error);
            throw error;
        }
    }

    public Task<Stream?> TryOpenReadAsync(string name, CancellationToken cancellationToken = default)
    {
        ObjectNames.Validate(name);
        cancellationToken.ThrowIfCancellationRequested();
        var path = PathOf(name);
        try
        {
            Stream stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, CopyBufferSize, FileOptions.Asynchronous | FileOptions.SequentialScan);
            return Task.FromResult<Stream?>(stream);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            // Absence is this method's answer, not an error.
            return Task.FromResult<Stream?>(null);
        }
        catch (Exception e)
        {
            throw ErrorClassifier.Classify(e, ErrorArea.Storage, new ErrorContext(Operation: $"read {name}"), cancellationToken);
        }
    }

    public Task<IReadOnlyList<ObjectInfo>> ListAsync(string prefix, CancellationToken cancellationToken = default)
    {
        ObjectNames.ValidatePrefix(prefix);
        var slash = prefix.LastIndexOf('/');
        var directory = slash < 0 ? Root : PathOf(prefix[..slash]);
        var result = new List<ObjectInfo>();
        try
        {
            if (Directory.Exists(directory))
            {
                var options = new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0, IgnoreInaccessible = false };
                foreach (var file in new DirectoryInfo(directory).EnumerateFiles("*", options))
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    var name = Path.GetRelativePath(Root, file.FullName).Replace(Path.DirectorySeparatorChar, '/');
                    if (name.StartsWith(prefix, StringComparison.Ordinal) && ObjectNames.IsValid(name))
                    {
                        result.Add(new ObjectInfo(name, file.Length, new DateTimeOffset(file.LastWriteTimeUtc, TimeSpan.Zero)));
                    }
                }
            }
        }
        catch (Exception e)
        {
            throw ErrorClassifier.Classify(e, ErrorArea.Storage, new ErrorContext(Operation: $"list {prefix}"), cancellationToken);
        }

        result.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        return Task.FromResult<IReadOnlyList<ObjectInfo>>(result);
    }

    public Task<bool> DeleteAsync(string name, CancellationToken cancellationToken = default)
    {
        ObjectNames.Validate(name);
        cancellationToken.ThrowIfCancellationRequested();
        var path = PathOf(name);
        try
        {
            if (!File.Exists(path)) return Task.FromResult(false);
            File.Delete(path);
            Posix.FsyncDirectory(Path.GetDirectoryName(path)!);
            return Task.FromResult(true);
        }
        catch (Exception e)
        {
            throw ErrorClassifier.Classify(e, ErrorArea.Storage, new ErrorContext(Operation: $"delete {name}"), cancellationToken);
        }
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private string PathOf(string name) => Path.Combine(Root, name.Replace('/', Path.DirectorySeparatorChar));

    /// <summary>Creates <paramref name="directory"/> and its missing parents below the root; returns the new ones, deepest first.</summary>
    private List<string> CreateDirectories(string directory)
    {
        var missing = new List<string>();
        for (var d = directory; d.Length > Root.Length && !Directory.Exists(d); d = Path.GetDirectoryName(d)!)
        {
            missing.Add(d);
        }

        if (missing.Count > 0) Directory.CreateDirectory(directory);
        return missing;
    }

    private static void RemoveTemp(string temp, FerryException error)
    {
        try
        {
            File.Delete(temp);
        }
        catch (Exception cleanup)
        {
            // The put already failed; the failed cleanup rides along with that error instead of replacing it.
            error.AddSuppressed(cleanup);
        }
    }
}
