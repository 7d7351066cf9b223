using System.Text.Json;
using System.Text.Json.Serialization;
using Ferry.Errors;

namespace Ferry.Meta;

/// <summary>
/// Writes a <see cref="FerryException"/> in a report (the agent's <c>/status</c>, <c>--json</c> output) as what an
/// operator needs: code, class, message, error id, context and the one-line form of suppressed errors. Without it
/// System.Text.Json walks the exception's own properties and fails on <c>TargetSite</c> (a MethodBase) for any
/// error that was thrown, so a status holding a real error could not be written at all. Write-only: errors are
/// recorded in the metadata store as a LastError record, never as exceptions.
/// </summary>
internal sealed class FerryExceptionJsonConverter : JsonConverter<FerryException>
{
    public override FerryException Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        throw new NotSupportedException("a FerryException is written for people and is not read back; LastError is the stored form");

    public override void Write(Utf8JsonWriter writer, FerryException value, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(value);
        string Name(string name) => options?.PropertyNamingPolicy?.ConvertName(name) ?? name;
        writer.WriteStartObject();
        writer.WriteString(Name("Code"), value.Code.Code);
        writer.WriteString(Name("Class"), value.Class.ToString());
        writer.WriteString(Name("Message"), value.Message);
        writer.WriteString(Name("ErrorId"), value.ErrorId);
        var context = value.Context.ToString();
        if (context.Length > 0) writer.WriteString(Name("Context"), context);
        else writer.WriteNull(Name("Context"));
        writer.WriteStartArray(Name("Suppressed"));
        foreach (var suppressed in value.Suppressed) writer.WriteStringValue(suppressed is FerryException f ? f.ToOneLine() : $"{suppressed.GetType().Name}: {suppressed.Message}");
        writer.WriteEndArray();
        writer.WriteEndObject();
    }
}
