using System.Buffers.Binary;
using System.Text;
using System.Text.Json.Nodes;
using CsCheck;
using SharpLens.Loading;
using SharpLens.Tests.Support;

namespace SharpLens.Tests.Errors;

/// <summary>
/// Property: whatever a damaged safetensors header, safetensors file or config.json looks like, the parsers either
/// accept it or throw <see cref="SharpLensException"/> (category <see cref="ExitCode.Checkpoint"/>), never anything else.
/// Each runs for about three seconds. Crashes found this way are kept in <see cref="ParserRegressionTests"/>.
/// </summary>
public class ParserFuzzTests
{
    /// <summary>A small valid header: one tensor of each dtype (12 + 12 + 2 = 26 data bytes), back to back.</summary>
    internal static readonly string ValidHeader = new JsonObject
    {
        ["__metadata__"] = new JsonObject { ["format"] = "pt" },
        ["a.weight"] = new JsonObject { ["dtype"] = "BF16", ["shape"] = new JsonArray(2, 3), ["data_offsets"] = new JsonArray(0, 12) },
        ["b.bias"] = new JsonObject { ["dtype"] = "F32", ["shape"] = new JsonArray(3), ["data_offsets"] = new JsonArray(12, 24) },
        ["c"] = new JsonObject { ["dtype"] = "F16", ["shape"] = new JsonArray(), ["data_offsets"] = new JsonArray(24, 26) },
    }.ToJsonString();

    internal const int ValidDataLength = 26;

    static readonly string ValidConfig = File.ReadAllText(Path.Combine(Fixtures.Dir("tiny-qwen2"), "config.json"));

    /// <summary>Values a mutation may put in place of any node of a JSON tree.</summary>
    static readonly string[] ReplacementValues =
    [
        "null", "true", "false", "0", "-1", "1.5", "2147483648", "9223372036854775808", "1e300", "1e400", "-0", "\"\"", "\"a\"",
        "\"BF16\"", "\"F64\"", "\"llama3\"", "\"default\"", "\"silu\"", "\"LlamaForCausalLM\"", "[]", "{}", "[0]", "[0,1]", "[1,0]",
        "[\"a\",1]", "[0,99999999999]", "[-5,2]", "[3,2,1]", "{\"rope_type\":\"llama3\"}", "{\"type\":1}", "{\"rope_type\":[]}",
        "{\"factor\":8,\"low_freq_factor\":1,\"high_freq_factor\":4,\"original_max_position_embeddings\":8192,\"rope_type\":\"llama3\"}",
    ];

    static readonly string[] Insertions = ["{", "}", "[", "]", ",", ":", "\"", "\\", "null", "0", "-", "1e999", "\\u12", "\u00e9", "\ud800"];

    static readonly JsonMutator Mutator = new(ReplacementValues, Insertions);

    /// <summary>One edit of a JSON text: truncate, delete, insert, replace a node, remove a node.</summary>
    internal static string Mutate(string json, int kind, int where, int what) => Mutator.Mutate(json, kind, where, what);

    static readonly Gen<(int Kind, int Where, int What)> Edit = JsonMutator.Edit;

    /// <summary>Runs <paramref name="parse"/>, letting only checkpoint errors through.</summary>
    static void OnlyCheckpointErrors(Action parse)
    {
        try { parse(); }
        catch (SharpLensException e) when (e.Code == ExitCode.Checkpoint) { }
    }

    [Fact]
    public void DamagedHeadersParseOrFailWithSharpLensException()
    {
        Gen.Select(Edit.Array[1, 4], Gen.Int[0, 64]).Sample((edits, dataDelta) =>
        {
            string header = ValidHeader;
            foreach (var (kind, where, what) in edits) header = Mutate(header, kind, where, what);
            OnlyCheckpointErrors(() => SafeTensorsFile.ParseHeader(Encoding.UTF8.GetBytes(header), ValidDataLength - 32 + dataDelta, "fuzz.safetensors"));
        }, iter: 100_000, time: 3, threads: 1);
    }

    [Fact]
    public void RandomBytesAsHeaderFailWithSharpLensException()
    {
        Gen.Byte.Array[0, 200].Sample(bytes => OnlyCheckpointErrors(() => SafeTensorsFile.ParseHeader(bytes, 1000, "fuzz.safetensors")),
            iter: 100_000, time: 2, threads: 1);
    }

    /// <summary>A valid file: header length, header, data.</summary>
    internal static byte[] ValidFile()
    {
        byte[] header = Encoding.UTF8.GetBytes(ValidHeader);
        var file = new byte[8 + header.Length + ValidDataLength];
        BinaryPrimitives.WriteInt64LittleEndian(file, header.Length);
        header.CopyTo(file, 8);
        return file;
    }

    [Fact]
    public void DamagedFilesOpenOrFailWithSharpLensException()
    {
        byte[] valid = ValidFile();
        string path = Path.Combine(Fixtures.TempDir("fuzz"), "model.safetensors");
        // edits: 0 truncate, 1 set a byte, 2 rewrite the header length, 3 append bytes
        var byteEdit = Gen.Select(Gen.Int[0, 3], Gen.Int[0, 100_000], Gen.Long[-10, 1000]);
        byteEdit.Array[1, 3].Sample(edits =>
        {
            var bytes = valid.ToList();
            foreach (var (kind, where, value) in edits)
            {
                switch (kind)
                {
                    case 0: bytes.RemoveRange(where % (bytes.Count + 1), bytes.Count - where % (bytes.Count + 1)); break;
                    case 1: if (bytes.Count > 0) bytes[where % bytes.Count] = (byte)value; break;
                    case 2:
                        if (bytes.Count >= 8)
                        {
                            long len = where % 2 == 0 ? value : value << (where % 60);
                            var span = new byte[8];
                            BinaryPrimitives.WriteInt64LittleEndian(span, len);
                            for (int i = 0; i < 8; i++) bytes[i] = span[i];
                        }
                        break;
                    default: bytes.AddRange(new byte[(int)Math.Abs(value) % 64]); break;
                }
            }
            File.WriteAllBytes(path, bytes.ToArray());
            OnlyCheckpointErrors(() =>
            {
                using var f = SafeTensorsFile.Open(path);
                foreach (var e in f.Entries.Values) Assert.InRange(e.End, e.Begin, bytes.Count);
            });
        }, iter: 100_000, time: 3, threads: 1);
    }

    [Fact]
    public void DamagedConfigsParseOrFailWithSharpLensException()
    {
        Edit.Array[1, 4].Sample(edits =>
        {
            string json = ValidConfig;
            foreach (var (kind, where, what) in edits) json = Mutate(json, kind, where, what);
            OnlyCheckpointErrors(() =>
            {
                var c = ModelConfig.Parse(json);
                // a config that parses is usable: the derived quantities are consistent
                Assert.True(c.NHeads % c.NKvHeads == 0 && c.DHead % 2 == 0 && c.DModel > 0 && c.VocabSize > 0);
                c.Describe();
                _ = Loading.Checkpoint.ExpectedTensors(c).Count();
            });
        }, iter: 100_000, time: 3, threads: 1);
    }

    [Fact]
    public void UndamagedInputsParse()
    {
        Assert.Equal(3, SafeTensorsFile.ParseHeader(Encoding.UTF8.GetBytes(ValidHeader), ValidDataLength, "x").Count);
        Assert.Equal(4, ModelConfig.Parse(ValidConfig).NLayers);
    }
}
