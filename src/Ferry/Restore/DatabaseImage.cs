using Ferry.Capture;

namespace Ferry.Restore;

/// <summary>
/// Builds a database file from pages: a snapshot's pages first, then committed transactions applied in order.
/// Applying a transaction is writing each frame's page at its offset; the commit frame's size then sets the
/// file length. The file is written where the caller says (a temp path); publishing it is the caller's job.
/// </summary>
internal sealed class DatabaseImage : IDisposable
{
    // A snapshot's pages come one by one in order: gathered into writes of up to 1 MiB rather than one system call
    // per page (262,144 of them for 1 GiB of 4 KiB pages). Any write that does not extend the run flushes it first,
    // so writes reach the file in the order they were made.
    private const int RunBytes = 1 << 20;

    private readonly FileStream _file;
    private readonly byte[] _run;
    private long _runOffset;
    private int _runLength;
    private uint _pageCount;

    public DatabaseImage(string path, int pageSize)
    {
        if (pageSize is < 512 or > 65536 || (pageSize & (pageSize - 1)) != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(pageSize), pageSize, "a SQLite page size is a power of two from 512 to 65536");
        }

        PageSize = pageSize;
        Path = path;
        _file = new FileStream(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, bufferSize: 0);
        _run = new byte[Math.Max(RunBytes, pageSize)];
    }

    public string Path { get; }

    public int PageSize { get; }

    /// <summary>Pages in the database after the last applied commit.</summary>
    public uint PageCount => _pageCount;

    /// <summary>Writes one page (1-based) of a snapshot or a frame.</summary>
    public void WritePage(uint pageNumber, ReadOnlySpan<byte> page)
    {
        if (pageNumber == 0) throw new ArgumentOutOfRangeException(nameof(pageNumber), "page numbers start at 1");
        if (page.Length != PageSize) throw new ArgumentException($"a page is {PageSize} bytes, got {page.Length}", nameof(page));
        var offset = (long)(pageNumber - 1) * PageSize;
        if (_runLength == 0 || offset != _runOffset + _runLength || _runLength + page.Length > _run.Length)
        {
            WriteRun();
            _runOffset = offset;
        }

        page.CopyTo(_run.AsSpan(_runLength));
        _runLength += page.Length;
    }

    /// <summary>Copies every page of <paramref name="source"/>; the image then has exactly its page count.</summary>
    public void WriteSnapshot(IPageSource source)
    {
        if (source.PageSize != PageSize) throw new ArgumentException($"snapshot page size {source.PageSize} differs from {PageSize}", nameof(source));
        var buffer = new byte[PageSize];
        for (uint page = 1; page <= source.PageCount; page++)
        {
            source.ReadPage(page, buffer);
            WritePage(page, buffer);
        }

        SetPageCount(source.PageCount);
    }

    /// <summary>Applies one committed transaction.</summary>
    public void Apply(CommittedTransaction transaction)
    {
        foreach (var frame in transaction.Frames)
        {
            WritePage(frame.PageNumber, frame.Page.Span);
        }

        SetPageCount(transaction.DatabaseSizeInPages);
    }

    /// <summary>Sets the database size in pages (a commit frame's size, or a snapshot's page count).</summary>
    public void SetPageCount(uint pageCount)
    {
        WriteRun();
        _pageCount = pageCount;
        _file.SetLength((long)pageCount * PageSize);
    }

    /// <summary>Flushes the image to disk. Call before renaming it into place.</summary>
    public void Flush()
    {
        WriteRun();
        _file.Flush(flushToDisk: true);
    }

    /// <summary>Releases the file; pages not yet flushed are dropped, which only a failed build (its temp file deleted) does.</summary>
    public void Dispose() => _file.Dispose();

    private void WriteRun()
    {
        if (_runLength == 0) return;
        RandomAccess.Write(_file.SafeFileHandle, _run.AsSpan(0, _runLength), _runOffset);
        _runLength = 0;
    }
}
