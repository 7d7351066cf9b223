using System.Buffers;
using Ferry.Errors;

namespace Ferry.Storage;

/// <summary>
/// The body of a download from an object store (S3, Azure). The request's deadline ends with the response headers,
/// and a whole-object deadline would cut off a large object on a slow link, so each read has its own: no bytes for
/// <paramref name="idleTimeout"/> fails it with <c>FERRY:Storage:Timeout</c> instead of hanging on a stalled
/// connection. The caller's own cancel and every other failure go through the store's <paramref name="classify"/>,
/// naming the object. Disposing it releases the body, then the response (and its connection).
/// </summary>
internal sealed class ResponseBodyStream(
    Stream body,
    long length,
    IDisposable response,
    string service,
    string name,
    TimeSpan idleTimeout,
    Func<Exception, ErrorContext, CancellationToken, FerryException> classify) : Stream
{
    private readonly ErrorContext _context = new(Operation: $"read {name}");

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => length;
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    // The HTTP body offers no timeout on a synchronous read: go through the asynchronous one, which has it.
    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override int Read(Span<byte> buffer)
    {
        var rented = ArrayPool<byte>.Shared.Rent(buffer.Length);
        try
        {
            var read = Read(rented, 0, buffer.Length);
            rented.AsSpan(0, read).CopyTo(buffer);
            return read;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        using var idle = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        idle.CancelAfter(idleTimeout);
        try
        {
            return await body.ReadAsync(buffer, idle.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (idle.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            // Whatever the transport threw when the idle deadline cut it off: a deadline is a timeout, never a cancel.
            throw new FerryException(ErrorCodes.StorageTimeout,
                $"{service} sent no data for {idleTimeout.TotalSeconds:0.###} s while reading {name}; the connection stalled", _context, e);
        }
        catch (Exception e)
        {
            throw classify(e, _context, cancellationToken);
        }
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        try
        {
            if (disposing)
            {
                try
                {
                    body.Dispose();
                }
                finally
                {
                    response.Dispose();
                }
            }
        }
        finally
        {
            base.Dispose(disposing);
        }
    }
}
