using System.Buffers.Binary;
using System.Text;
using Ferry.Errors;

namespace Ferry.Replica;

/// <summary>Shared pieces of the binary object formats: little-endian fields, times as UTC ticks, corruption errors.</summary>
internal static class ReplicaFormat
{
    /// <summary>The version of manifests and snapshots (segments have their own: <see cref="SegmentFormat.Version"/>).</summary>
    public const ushort Version = 1;

    /// <summary>A damaged object: <c>FERRY:Storage:CorruptObject</c> naming it and what is wrong.</summary>
    public static FerryException Corrupt(string objectName, string what, Exception? inner = null) =>
        new(ErrorCodes.StorageCorruptObject, $"object {objectName} is damaged: {what}", new ErrorContext(Operation: $"read {objectName}"), inner);

    public static bool IsValidPageSize(long pageSize) => pageSize is >= 512 and <= 65536 && (pageSize & (pageSize - 1)) == 0;

    public static void WriteTime(Span<byte> destination, DateTimeOffset time) =>
        BinaryPrimitives.WriteInt64LittleEndian(destination, time.UtcTicks);

    public static DateTimeOffset ReadTime(ReadOnlySpan<byte> source, string objectName, string field)
    {
        var ticks = BinaryPrimitives.ReadInt64LittleEndian(source);
        if (ticks < DateTimeOffset.MinValue.UtcTicks || ticks > DateTimeOffset.MaxValue.UtcTicks)
        {
            throw Corrupt(objectName, $"{field} {ticks} is not a valid time");
        }

        return new DateTimeOffset(ticks, TimeSpan.Zero);
    }

    public static void WriteGeneration(Span<byte> destination, GenerationId generation) =>
        Encoding.ASCII.GetBytes(generation.Value, destination[..GenerationId.Length]);

    public static GenerationId ReadGeneration(ReadOnlySpan<byte> source, string objectName)
    {
        var text = Encoding.ASCII.GetString(source[..GenerationId.Length]);
        return GenerationId.TryParse(text, out var id) ? id : throw Corrupt(objectName, "the generation field is not a generation id");
    }

    public static void CheckMagic(ReadOnlySpan<byte> header, ReadOnlySpan<byte> magic, string objectName, string kind) =>
        CheckMagic(header, magic, objectName, kind, Version, Version);

    /// <summary>Checks the object starts with <paramref name="magic"/> and a version from <paramref name="oldest"/> to <paramref name="newest"/>; returns that version.</summary>
    public static ushort CheckMagic(ReadOnlySpan<byte> header, ReadOnlySpan<byte> magic, string objectName, string kind, ushort oldest, ushort newest)
    {
        if (header.Length < magic.Length + 4 || !header[..magic.Length].SequenceEqual(magic))
        {
            throw Corrupt(objectName, $"it does not start like a Ferry {kind}");
        }

        var version = BinaryPrimitives.ReadUInt16LittleEndian(header[magic.Length..]);
        if (version < oldest || version > newest)
        {
            var reads = oldest == newest ? $"{newest}" : $"{oldest} to {newest}";
            throw Corrupt(objectName, $"format version {version} is not one this Ferry reads (it reads {reads})");
        }

        return version;
    }
}
