using System.Buffers.Binary;
using System.Text;
using System.Text.Json.Nodes;
using SharpLens.Tests.Support;

namespace SharpLens.Tests.Errors;

/// <summary>Copies of the tiny-qwen2 fixture (a sharded bf16 checkpoint) that tests then damage in specific ways.</summary>
internal static class BrokenModel
{
    public const string Shard1 = "model-00001-of-00002.safetensors";
    public const string Shard2 = "model-00002-of-00002.safetensors";
    public const string IndexFile = "model.safetensors.index.json";

    static readonly string[] ModelFiles = ["config.json", "tokenizer.json", "tokenizer_config.json", IndexFile, Shard1, Shard2];

    /// <summary>A fresh temporary copy of the model files of tiny-qwen2 (no reference data).</summary>
    public static string Copy()
    {
        string src = Fixtures.Dir("tiny-qwen2"), dst = Fixtures.TempDir("broken");
        foreach (var f in ModelFiles) File.Copy(Path.Combine(src, f), Path.Combine(dst, f));
        return dst;
    }

    /// <summary>Rewrites a JSON file (config.json, the index) through <paramref name="edit"/>.</summary>
    public static void EditJson(string path, Action<JsonObject> edit)
    {
        var o = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        edit(o);
        File.WriteAllText(path, o.ToJsonString());
    }

    /// <summary>The header of a safetensors file as JSON, and its data section.</summary>
    public static (JsonObject Header, byte[] Data) Read(string path)
    {
        byte[] all = File.ReadAllBytes(path);
        long n = BinaryPrimitives.ReadInt64LittleEndian(all);
        var header = JsonNode.Parse(all.AsSpan(8, (int)n))!.AsObject();
        return (header, all[(8 + (int)n)..]);
    }

    /// <summary>Writes a safetensors file from raw header bytes and data (the header length is computed).</summary>
    public static void Write(string path, byte[] header, byte[] data)
    {
        using var fs = File.Create(path);
        Span<byte> len = stackalloc byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(len, header.Length);
        fs.Write(len);
        fs.Write(header);
        fs.Write(data);
    }

    /// <summary>Rewrites the JSON header of a safetensors file through <paramref name="edit"/>, keeping the data.</summary>
    public static void EditHeader(string path, Action<JsonObject> edit)
    {
        var (header, data) = Read(path);
        edit(header);
        Write(path, Encoding.UTF8.GetBytes(header.ToJsonString()), data);
    }

    /// <summary>The header entry of tensor <paramref name="name"/>.</summary>
    public static JsonObject Entry(JsonObject header, string name) => header[name]!.AsObject();

    /// <summary>Sets the data_offsets of an entry.</summary>
    public static void SetOffsets(JsonObject header, string name, long begin, long end) =>
        Entry(header, name)["data_offsets"] = new JsonArray(begin, end);
}
