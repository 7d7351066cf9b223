using System.Text.Json;
using System.Text.Json.Serialization;
using Ferry.Errors;

namespace Ferry.Meta;

/// <summary>JSON for every value under a Ferry key: snake_case, readable with <c>etcdctl get</c>.</summary>
public static class MetaJson
{
    public static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseUpper), new FerryExceptionJsonConverter() },
    };

    /// <summary>For machine-readable CLI output: the same names, and absent values shown as null rather than left out.</summary>
    public static readonly JsonSerializerOptions OutputOptions = new(Options)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    public static byte[] Serialize<T>(T value) => JsonSerializer.SerializeToUtf8Bytes(value, Options);

    /// <summary>Reads a value; anything that is not what Ferry writes there is <c>FERRY:Meta:CorruptValue</c> naming the key.</summary>
    public static T Deserialize<T>(KeyValue kv)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(kv);
        try
        {
            return JsonSerializer.Deserialize<T>(kv.Value.Span, Options)
                ?? throw new JsonException("the value is JSON null");
        }
        catch (JsonException e)
        {
            throw new FerryException(
                ErrorCodes.MetaCorruptValue,
                $"the value under {kv.Key} is not a valid {typeof(T).Name}: {e.Message}; fix it or delete the key",
                new ErrorContext(Operation: $"read {kv.Key}"),
                e);
        }
    }
}
