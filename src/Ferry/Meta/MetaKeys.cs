using System.Globalization;

namespace Ferry.Meta;

/// <summary>The key layout of DESIGN §3, under a configurable prefix (default <c>/ferry/v1</c>).</summary>
public sealed class MetaKeys(string prefix = MetaKeys.DefaultPrefix)
{
    public const string DefaultPrefix = "/ferry/v1";

    public string Prefix { get; } = prefix.TrimEnd('/');

    public string TasksPrefix => $"{Prefix}/tasks/";

    public string Task(string task) => TasksPrefix + task;

    public string PausePrefix => $"{Prefix}/pause/";

    public string Pause(string task) => PausePrefix + task;

    public string LastErrorPrefix(string task) => $"{Prefix}/last_error/{task}/";

    public string LastError(string task, long storeId) => LastErrorPrefix(task) + storeId.ToString(CultureInfo.InvariantCulture);

    public string CheckpointPrefix(string task) => $"{Prefix}/checkpoint/{task}/";

    public string Checkpoint(string task, long storeId) => CheckpointPrefix(task) + storeId.ToString(CultureInfo.InvariantCulture);

    public string StoresPrefix => $"{Prefix}/stores/";

    public string Store(long storeId) => StoresPrefix + storeId.ToString(CultureInfo.InvariantCulture);

    public string Fence(long storeId) => $"{Prefix}/fence/{storeId.ToString(CultureInfo.InvariantCulture)}";

    public string Handover(long storeId) => $"{Prefix}/handover/{storeId.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>The store id at the end of a per-store key, or null when the last segment is not a positive integer.</summary>
    public static long? StoreIdOf(string key)
    {
        var last = key[(key.LastIndexOf('/') + 1)..];
        return long.TryParse(last, NumberStyles.None, CultureInfo.InvariantCulture, out var id) && id > 0 ? id : null;
    }
}
