using System.Text;
using System.Text.Json.Nodes;

namespace SharpLens.Loading;

/// <summary>
/// Writes fp32 tensors as one safetensors file (the format <see cref="SafeTensorsFile"/> reads and Hugging Face's
/// <c>safetensors.torch.save_file</c> writes): an 8-byte little-endian header length, a JSON header naming each tensor's
/// dtype, shape and byte range (padded with spaces to a multiple of 8), then the raw little-endian data in header order.
/// </summary>
public static class SafeTensorsWriter
{
    /// <summary>Writes <paramref name="tensors"/> (name → (shape, data), in the given order) to <paramref name="path"/>.</summary>
    public static void WriteF32(string path, IEnumerable<(string Name, long[] Shape, float[] Data)> tensors,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        var list = tensors.ToList();
        var header = new JsonObject();
        if (metadata != null)
        {
            var meta = new JsonObject();
            foreach (var (k, v) in metadata) meta[k] = v;
            header["__metadata__"] = meta;
        }
        long offset = 0;
        foreach (var (name, shape, data) in list)
        {
            long n = shape.Aggregate(1L, (a, b) => a * b);
            if (n != data.LongLength) throw new ArgumentException($"tensor {name}: shape [{string.Join(", ", shape)}] holds {n} elements, data has {data.LongLength}");
            header[name] = new JsonObject
            {
                ["dtype"] = "F32",
                ["shape"] = new JsonArray(shape.Select(s => (JsonNode)s).ToArray()),
                ["data_offsets"] = new JsonArray(offset, offset + 4 * n),
            };
            offset += 4 * n;
        }
        var json = Encoding.UTF8.GetBytes(header.ToJsonString());
        int padded = (json.Length + 7) / 8 * 8;
        using var f = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
        Span<byte> len = stackalloc byte[8];
        BitConverter.TryWriteBytes(len, (ulong)padded);
        f.Write(len);
        f.Write(json);
        for (int i = json.Length; i < padded; i++) f.WriteByte((byte)' ');
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("safetensors data is little-endian");
        foreach (var (_, _, data) in list) f.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(data.AsSpan()));
    }
}
