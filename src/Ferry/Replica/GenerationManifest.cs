using System.Text.Json;
using System.Text.Json.Serialization;
using Ferry.Coordination;
using Ferry.Errors;

namespace Ferry.Replica;

/// <summary>
/// <c>manifest.json</c> of a generation: who wrote it, for which database, when, with what page size, and the
/// writer's fence token (DESIGN §5: storage writes carry the token, so a zombie's generation is never taken for
/// the live chain; 0/0 in manifests written before tokens were recorded). Small JSON so an operator can read it
/// with <c>cat</c>; written create-if-absent when the generation starts.
/// </summary>
internal sealed record GenerationManifest(
    int FormatVersion,
    long StoreId,
    string DbPath,
    string Generation,
    DateTimeOffset CreatedAt,
    int PageSize,
    long DeployGeneration = 0,
    long Epoch = 0)
{
    [JsonIgnore]
    public FenceToken Token => new(DeployGeneration, Epoch);

    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    public byte[] ToJson() => JsonSerializer.SerializeToUtf8Bytes(this, Json);

    public static GenerationManifest Parse(ReadOnlySpan<byte> json, string objectName)
    {
        GenerationManifest? manifest;
        try
        {
            manifest = JsonSerializer.Deserialize<GenerationManifest>(json, Json);
        }
        catch (JsonException e)
        {
            throw ReplicaFormat.Corrupt(objectName, $"it is not a generation manifest: {e.Message}", e);
        }

        if (manifest is null || manifest.DbPath is null || manifest.Generation is null) throw ReplicaFormat.Corrupt(objectName, "it is not a generation manifest");
        if (manifest.FormatVersion != ReplicaFormat.Version)
        {
            throw ReplicaFormat.Corrupt(objectName, $"format version {manifest.FormatVersion} is not one this Ferry reads (it reads {ReplicaFormat.Version})");
        }

        if (!ReplicaFormat.IsValidPageSize(manifest.PageSize)) throw ReplicaFormat.Corrupt(objectName, $"page size {manifest.PageSize} is not a SQLite page size");
        return manifest;
    }

    /// <summary>Checks the manifest describes the generation its name says.</summary>
    internal void CheckMatches(ReplicaObjectName name, string objectName)
    {
        if (StoreId != name.Database.StoreId || DbPath != name.Database.Path || Generation != name.Generation.Value)
        {
            throw ReplicaFormat.Corrupt(objectName, $"it describes store {StoreId} {DbPath} generation {Generation}, not what its name says");
        }
    }
}
