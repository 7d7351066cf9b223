using Ferry.Capture;

namespace Ferry.Restore;

/// <summary>
/// Builds a database file from pages: a snapshot's pages first, then committed transactions applied in order.
/// Applying a transaction is writing each frame's page at its offset; the commit frame's size then sets the
/// file length. The file is written where the caller says (a temp path); publishing it is the caller's job.
/// </summary>
internal sealed class DatabaseImage : IDisposable
{
    private readonly FileStream _file;
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
        RandomAccess.Write(_file.SafeFileHandle, page, (long)(pageNumber - 1) * PageSize);
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
        _pageCount = pageCount;
        _file.SetLength((long)pageCount * PageSize);
    }

    /// <summary>Flushes the image to disk. Call before renaming it into place.</summary>
    public void Flush() => _file.Flush(flushToDisk: true);

    public void Dispose() => _file.Dispose();
}
