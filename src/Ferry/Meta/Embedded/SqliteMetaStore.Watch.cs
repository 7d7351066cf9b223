using System.Runtime.CompilerServices;
using Ferry.Errors;

namespace Ferry.Meta.Embedded;

/// <summary>Watch: reads the event log, which every write transaction appends to in revision order, after each write of this process and every 250 ms for other processes'.</summary>
public sealed partial class SqliteMetaStore
{
    public async IAsyncEnumerable<WatchEvent> WatchAsync(
        string prefix,
        long fromRevision,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var compacted = await ReadAsync("watch", cancellationToken, () => Scalar("SELECT value FROM state WHERE name = 'compacted'")!.Value);
        if (fromRevision > 0 && fromRevision <= compacted)
        {
            throw new FerryException(
                ErrorCodes.MetaCompacted,
                $"revision {fromRevision} was compacted (the embedded store keeps events after revision {compacted})",
                new ErrorContext(Operation: $"watch {prefix}"));
        }

        if (fromRevision <= 0)
        {
            // As in etcd, no start revision means "changes from now on".
            fromRevision = await ReadAsync("watch", cancellationToken, CurrentRevision) + 1;
        }

        long lastSeq = -1;
        while (!cancellationToken.IsCancellationRequested)
        {
            List<(long Seq, WatchEvent Event)> batch;
            // Taken before the read: a write committed after it wakes the wait below.
            var committed = Volatile.Read(ref _committed).Task;
            try
            {
                batch = await ReadAsync("watch", cancellationToken, () => ReadEvents(prefix, fromRevision, lastSeq));
            }
            catch (FerryException e) when (e.Class == ErrorClass.Cancelled)
            {
                yield break;
            }

            foreach (var (seq, e) in batch)
            {
                lastSeq = seq;
                yield return e;
            }

            if (batch.Count == 0)
            {
                using (var poll = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
                {
                    await Task.WhenAny(committed, Task.Delay(WatchPollInterval, _time, poll.Token));
                    await poll.CancelAsync();
                }

                if (cancellationToken.IsCancellationRequested) yield break;
            }
        }
    }

    private List<(long, WatchEvent)> ReadEvents(string prefix, long fromRevision, long afterSeq)
    {
        var (where, parameters) = PrefixFilter(prefix);
        // The first poll starts at the requested revision; later ones continue after the last event delivered.
        var position = afterSeq < 0 ? "rev >= $from" : "seq > $after";
        using var command = Command(
            $"SELECT seq, type, key, value, create_rev, mod_rev, version, lease FROM events WHERE {position} AND {where} ORDER BY seq LIMIT 1000",
            [.. parameters, ("$from", fromRevision), ("$after", afterSeq)]);
        using var reader = command.ExecuteReader();
        var result = new List<(long, WatchEvent)>();
        while (reader.Read())
        {
            var kv = new KeyValue(
                reader.GetString(2),
                (byte[])reader.GetValue(3),
                reader.GetInt64(4),
                reader.GetInt64(5),
                reader.GetInt64(6),
                reader.GetInt64(7));
            result.Add((reader.GetInt64(0), new WatchEvent((WatchEventType)reader.GetInt64(1), kv)));
        }

        return result;
    }
}
