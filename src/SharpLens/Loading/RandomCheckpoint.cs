using System.IO.Compression;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace SharpLens.Loading;

/// <summary>
/// Writes a Hugging Face checkpoint with random weights and a real architecture (config.json, bf16 safetensors shards
/// with <c>model.safetensors.index.json</c>, a real tokenizer whose ids fit the vocabulary: <see cref="RandomTokenizers"/>), so speed and memory can be measured without the
/// real weights. Tensors are generated and written in 4 MiB chunks (never the whole model in memory), deterministically
/// from the seed and the tensor name, into a temporary directory that is renamed into place at the end.
/// Matrices and biases are approximately normal (Irwin–Hall of 4 uniforms, standard deviation
/// <see cref="RandomModelSpec.InitStd"/>), norm weights scale by 1 (Gemma's <c>1 + w</c> norms store 0): activations stay
/// in a sane range through every layer.
/// </summary>
public static class RandomCheckpoint
{
    /// <summary>Elements generated from one random stream; the unit of determinism and of parallel generation.</summary>
    const int BlockElems = 1 << 16;
    /// <summary>Blocks generated and written at once (32 × 64 Ki bf16 = 4 MiB).</summary>
    const int BlocksPerChunk = 32;

    /// <summary>Presets with the exact shapes of real models.</summary>
    public static IReadOnlyDictionary<string, RandomModelSpec> Presets { get; } = new Dictionary<string, RandomModelSpec>
    {
        ["qwen1.5-1.8b"] = new()
        {
            Name = "qwen1.5-1.8b", Architecture = "Qwen2ForCausalLM", DModel = 2048, DMlp = 5504, NLayers = 24, NHeads = 16, NKvHeads = 16,
            VocabSize = 151936, Tied = false, RopeTheta = 1e6, RmsNormEps = 1e-6, MaxPositions = 32768,
        },
        ["qwen2-0.5b"] = new()
        {
            Name = "qwen2-0.5b", Architecture = "Qwen2ForCausalLM", DModel = 896, DMlp = 4864, NLayers = 24, NHeads = 14, NKvHeads = 2,
            VocabSize = 151936, Tied = true, RopeTheta = 1e6, RmsNormEps = 1e-6, MaxPositions = 32768,
        },
        ["qwen2.5-1.5b"] = new()
        {
            Name = "qwen2.5-1.5b", Architecture = "Qwen2ForCausalLM", DModel = 1536, DMlp = 8960, NLayers = 28, NHeads = 12, NKvHeads = 2,
            VocabSize = 151936, Tied = true, RopeTheta = 1e6, RmsNormEps = 1e-6, MaxPositions = 32768,
        },
        ["llama-style"] = new()
        {
            Name = "llama-style", Architecture = "LlamaForCausalLM", DModel = 2048, DMlp = 8192, NLayers = 16, NHeads = 32, NKvHeads = 8,
            HeadDim = 64, VocabSize = 151936, Tied = true, RopeTheta = 500000, RmsNormEps = 1e-5, MaxPositions = 131072,
            RopeScaling = new Llama3RopeScaling(32, 1, 4, 8192),
        },
        ["mistral-7b"] = new()
        {
            Name = "mistral-7b", Architecture = "MistralForCausalLM", DModel = 4096, DMlp = 14336, NLayers = 32, NHeads = 32, NKvHeads = 8,
            VocabSize = 32000, Tied = false, RopeTheta = 10000, RmsNormEps = 1e-5, MaxPositions = 32768, SlidingWindow = 4096,
            Tokenizer = RandomTokenizers.Mistral,
        },
        ["qwen3-0.6b"] = new()
        {
            Name = "qwen3-0.6b", Architecture = "Qwen3ForCausalLM", DModel = 1024, DMlp = 3072, NLayers = 28, NHeads = 16, NKvHeads = 8,
            HeadDim = 128, VocabSize = 151936, Tied = true, RopeTheta = 1e6, RmsNormEps = 1e-6, MaxPositions = 40960,
            Tokenizer = RandomTokenizers.Qwen3,
        },
        ["pythia-410m"] = new()
        {
            Name = "pythia-410m", Architecture = "GPTNeoXForCausalLM", DModel = 1024, DMlp = 4096, NLayers = 24, NHeads = 16, NKvHeads = 16,
            VocabSize = 50304, Tied = false, RopeTheta = 10000, RmsNormEps = 1e-5, MaxPositions = 2048, RotaryFraction = 0.25,
            Tokenizer = RandomTokenizers.Gpt2, Shards = 1,
        },
        ["gpt2"] = new()
        {
            Name = "gpt2", Architecture = "GPT2LMHeadModel", DModel = 768, DMlp = 3072, NLayers = 12, NHeads = 12, NKvHeads = 12,
            VocabSize = 50257, Tied = true, RopeTheta = 0, RmsNormEps = 1e-5, MaxPositions = 1024, Tokenizer = RandomTokenizers.Gpt2, Shards = 1,
        },
        ["gemma-2-2b"] = new()
        {
            Name = "gemma-2-2b", Architecture = "Gemma2ForCausalLM", DModel = 2304, DMlp = 9216, NLayers = 26, NHeads = 8, NKvHeads = 4,
            HeadDim = 256, VocabSize = 256000, Tied = true, RopeTheta = 10000, RmsNormEps = 1e-6, MaxPositions = 8192, SlidingWindow = 4096,
            Tokenizer = RandomTokenizers.Gemma256k, Shards = 3,
        },
        ["phi-3-mini"] = new()
        {
            Name = "phi-3-mini", Architecture = "Phi3ForCausalLM", DModel = 3072, DMlp = 8192, NLayers = 32, NHeads = 32, NKvHeads = 32,
            VocabSize = 32064, Tied = false, RopeTheta = 10000, RmsNormEps = 1e-5, MaxPositions = 4096, SlidingWindow = 2047,
            Tokenizer = RandomTokenizers.MistralNoBos,
        },
    };

    /// <summary>The preset called <paramref name="name"/> (case-insensitive), or a usage error listing them.</summary>
    public static RandomModelSpec Preset(string name) =>
        Presets.TryGetValue(name.ToLowerInvariant(), out var s) ? s
            : throw SharpLensException.Usage($"unknown preset \"{name}\"; presets: {string.Join(", ", Presets.Keys)}");

    /// <summary>Every tensor of the model in Hugging Face order, with its shape and how it is initialised.</summary>
    public static IEnumerable<(string Name, long[] Shape, bool IsNorm)> Tensors(RandomModelSpec spec) =>
        Checkpoint.ExpectedTensors(spec.ToConfig()).Select(t => (t.Name, t.Shape, IsNormWeight(t.Name)));

    /// <summary>A norm's scale: <c>…norm.weight</c> (Llama-style, GPT-NeoX) or GPT-2's <c>ln_1</c>, <c>ln_2</c>, <c>ln_f</c>.</summary>
    static bool IsNormWeight(string name) =>
        name.EndsWith("norm.weight", StringComparison.Ordinal)
        || System.Text.RegularExpressions.Regex.IsMatch(name, @"(^|\.)ln_(\d+|f)\.weight$");

    /// <summary>Bytes of tensor data (in the spec's dtype) the checkpoint holds.</summary>
    public static long WeightBytes(RandomModelSpec spec) => Tensors(spec).Sum(t => t.Shape.Aggregate(1L, (a, b) => a * b) * DTypes.Size(spec.DType));

    /// <summary>The file make-random leaves in every checkpoint it writes: what may be replaced with --force.</summary>
    public const string MarkerFile = ".sharplens-make-random";

    /// <summary>
    /// Writes the checkpoint to <paramref name="outDir"/>, which must not exist or be empty, or (when
    /// <paramref name="overwrite"/>) be a checkpoint this method wrote (see <see cref="CheckReplaceable"/>).
    /// <paramref name="progress"/> gets (bytes written, total bytes). The checkpoint is written into a temporary folder
    /// beside <paramref name="outDir"/> (named with this process's id; those of dead processes are removed first) and
    /// renamed into place at the end.
    /// </summary>
    public static void Write(RandomModelSpec spec, string outDir, ulong seed, bool overwrite = false,
        Action<long, long>? progress = null, CancellationToken ct = default)
    {
        string dest = Path.GetFullPath(outDir);
        CheckDestination(dest, overwrite);
        IO.AtomicFolder.Write(dest, tmp =>
        {
            WriteInto(spec, tmp, seed, progress, ct);
            File.WriteAllText(Path.Combine(tmp, MarkerFile),
                $"written by sharplens make-random --like {spec.Name} --layers {spec.NLayers} --seed {seed}; `make-random --force` may replace this folder\n");
        });
    }

    /// <summary>Whether <see cref="Write"/> may write to <paramref name="outDir"/>: it does not exist, is empty, or (with
    /// <paramref name="overwrite"/>) passes <see cref="CheckReplaceable"/>.</summary>
    /// <exception cref="SharpLensException">(<see cref="ExitCode.Usage"/>) with the reason.</exception>
    public static void CheckDestination(string outDir, bool overwrite)
    {
        string dest = Path.GetFullPath(outDir);
        if (File.Exists(dest)) throw SharpLensException.Usage($"{dest} is a file, not a directory");
        if (Directory.Exists(dest) && Directory.EnumerateFileSystemEntries(dest).Any())
        {
            if (!overwrite) throw SharpLensException.Usage($"{dest} already exists and is not empty (overwriting it was not asked for)", nameof(overwrite));
            CheckReplaceable(dest);
        }
    }

    /// <summary>
    /// Overwriting replaces only a folder make-random wrote: one holding its marker file and nothing but what it writes
    /// (config.json, model*.safetensors and their index, the tokenizer files). Anything else — a working directory,
    /// a real checkpoint, a folder with one file more — is refused (exit 2) with the reason.
    /// </summary>
    public static void CheckReplaceable(string dir)
    {
        string full = Path.GetFullPath(dir).TrimEnd(Path.DirectorySeparatorChar);
        string cwd = Path.GetFullPath(Environment.CurrentDirectory).TrimEnd(Path.DirectorySeparatorChar);
        string Refuse(string why) => throw SharpLensException.Usage($"{full} is not replaced: {why}; remove it yourself or choose another output folder", "overwrite");
        if (new DirectoryInfo(full).LinkTarget != null) Refuse("it is a symbolic link");
        if (cwd == full || cwd.StartsWith(full + Path.DirectorySeparatorChar, StringComparison.Ordinal)) Refuse("it is (or holds) the working directory");
        var entries = Directory.EnumerateFileSystemEntries(full).Select(Path.GetFileName).ToList();
        var foreign = entries.Where(n => !IsOwnFile(n!) || !File.Exists(Path.Combine(full, n!))).Order(StringComparer.Ordinal).ToList();
        if (foreign.Count > 0)
            Refuse($"it holds {(foreign.Count == 1 ? "" : $"{foreign.Count} entries make-random does not write, such as ")}{foreign[0]}" +
                   (foreign.Count == 1 ? ", which make-random does not write" : ""));
        if (!entries.Contains(MarkerFile)) Refuse($"make-random did not write it (there is no {MarkerFile} file)");
    }

    static bool IsOwnFile(string name) =>
        name is MarkerFile or "config.json" or "tokenizer.json" or "tokenizer_config.json" or "model.safetensors" or "model.safetensors.index.json"
        || System.Text.RegularExpressions.Regex.IsMatch(name, @"^model-\d{5}-of-\d{5}\.safetensors$");

    static void WriteInto(RandomModelSpec spec, string dir, ulong seed, Action<long, long>? progress, CancellationToken ct)
    {
        File.WriteAllText(Path.Combine(dir, "config.json"), spec.ConfigJson().ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        RandomTokenizers.Write(spec.Tokenizer, dir);
        int size = DTypes.Size(spec.DType);
        var tensors = Tensors(spec).Select(t => (t.Name, t.Shape, t.IsNorm, Bytes: t.Shape.Aggregate(1L, (a, b) => a * b) * size)).ToList();
        long total = tensors.Sum(t => t.Bytes), done = 0;

        // Assign tensors to shards in order, cutting at equal shares of the bytes.
        int want = Math.Max(1, spec.Shards);
        var shardOf = new int[tensors.Count];
        long before = 0;
        for (int i = 0; i < tensors.Count; i++)
        {
            shardOf[i] = (int)Math.Min(want - 1, before * want / Math.Max(1, total));
            before += tensors[i].Bytes;
        }
        var used = shardOf.Distinct().Order().ToList();
        int shards = used.Count;
        string FileName(int s) => shards == 1 ? "model.safetensors" : $"model-{used.IndexOf(s) + 1:00000}-of-{shards:00000}.safetensors";

        float normValue = spec.Architecture == "Gemma2ForCausalLM" ? 0f : 1f; // Gemma's RMSNorm scales by 1 + w
        var weightMap = new JsonObject();
        foreach (int s in used)
        {
            var mine = Enumerable.Range(0, tensors.Count).Where(i => shardOf[i] == s).Select(i => tensors[i]).ToList();
            using var fs = new FileStream(Path.Combine(dir, FileName(s)), FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20);
            WriteHeader(fs, mine.Select(t => (t.Name, t.Shape, t.Bytes)), spec.DType);
            foreach (var t in mine)
            {
                WriteTensor(fs, t.Name, t.Bytes / size, spec.DType, t.IsNorm, normValue, seed, spec.InitStd, n =>
                {
                    done += n * size;
                    progress?.Invoke(done, total);
                }, ct);
                weightMap[t.Name] = FileName(s);
            }
            fs.Flush(flushToDisk: true);
        }
        if (shards > 1)
        {
            var index = new JsonObject { ["metadata"] = new JsonObject { ["total_size"] = total }, ["weight_map"] = weightMap };
            File.WriteAllText(Path.Combine(dir, "model.safetensors.index.json"), index.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        }
    }

    /// <summary>The 8-byte header length, then the JSON header padded with spaces so that the data starts at a multiple of 64 bytes.</summary>
    static void WriteHeader(Stream s, IEnumerable<(string Name, long[] Shape, long Bytes)> tensors, DType dtype)
    {
        var header = new JsonObject { ["__metadata__"] = new JsonObject { ["format"] = "pt" } };
        long offset = 0;
        foreach (var (name, shape, bytes) in tensors)
        {
            header[name] = new JsonObject
            {
                ["dtype"] = dtype.ToString(),
                ["shape"] = new JsonArray(shape.Select(x => (JsonNode?)x).ToArray()),
                ["data_offsets"] = new JsonArray(offset, offset + bytes),
            };
            offset += bytes;
        }
        var json = Encoding.UTF8.GetBytes(header.ToJsonString());
        // The data starts 64-byte aligned (8 + padded ≡ 0 mod 64), so every mapped tensor (all sizes here are multiples of
        // 64 bytes) starts on a cache line: the bf16 kernels read weights 8 bytes off a line at ~0.6× the speed
        // (docs/benchmarks.md, "Families against Qwen2"), and two checkpoints compared must not differ in that by chance.
        int padded = (8 + json.Length + 63) / 64 * 64 - 8;
        s.Write(BitConverter.GetBytes((long)padded));
        s.Write(json);
        for (int i = json.Length; i < padded; i++) s.WriteByte((byte)' ');
    }

    /// <summary>Streams one tensor: blocks of <see cref="BlockElems"/> elements, each from its own seeded stream.</summary>
    static void WriteTensor(Stream s, string name, long count, DType dtype, bool isNorm, float normValue, ulong seed, double std, Action<long> wrote, CancellationToken ct)
    {
        int size = DTypes.Size(dtype);
        var buffer = new byte[BlocksPerChunk * BlockElems * size];
        ulong tensorSeed = Mix(seed ^ Fnv(name));
        long blocks = (count + BlockElems - 1) / BlockElems;
        for (long b0 = 0; b0 < blocks; b0 += BlocksPerChunk)
        {
            ct.ThrowIfCancellationRequested();
            int nb = (int)Math.Min(BlocksPerChunk, blocks - b0);
            long chunkElems = Math.Min((long)nb * BlockElems, count - b0 * BlockElems);
            Parallel.For(0, nb, j =>
            {
                long first = (b0 + j) * BlockElems;
                int n = (int)Math.Min(BlockElems, count - first);
                var dst = buffer.AsSpan(j * BlockElems * size, n * size);
                if (isNorm) FillConstant(dst, normValue, dtype);
                else FillNormal(dst, Mix(tensorSeed + (ulong)(b0 + j) * 0x9E3779B97F4A7C15UL), (float)std, dtype);
            });
            s.Write(buffer, 0, (int)chunkElems * size);
            wrote(chunkElems);
        }
    }

    static void FillConstant(Span<byte> dst, float v, DType dtype)
    {
        int size = DTypes.Size(dtype);
        for (int i = 0; i < dst.Length; i += size) Store(dst, i, v, dtype);
    }

    /// <summary>Approximately normal values: the centred sum of four 16-bit uniforms, scaled to <paramref name="std"/>,
    /// one random draw per element whatever the dtype.</summary>
    static void FillNormal(Span<byte> dst, ulong state, float std, DType dtype)
    {
        // Sum of 4 uniforms on [0, 65535]: mean 131070, variance 4·(65536² − 1)/12.
        const double Sd = 37837.23;
        float scale = (float)(std / Sd);
        int size = DTypes.Size(dtype);
        for (int i = 0; i < dst.Length; i += size)
        {
            ulong r = SplitMix(ref state);
            long sum = (long)(r & 0xFFFF) + (long)((r >> 16) & 0xFFFF) + (long)((r >> 32) & 0xFFFF) + (long)(r >> 48);
            Store(dst, i, (sum - 131070) * scale, dtype);
        }
    }

    /// <summary>v in <paramref name="dtype"/>, little-endian, at byte <paramref name="i"/>.</summary>
    static void Store(Span<byte> dst, int i, float v, DType dtype)
    {
        switch (dtype)
        {
            case DType.F32: System.Buffers.Binary.BinaryPrimitives.WriteSingleLittleEndian(dst[i..], v); break;
            case DType.F16: System.Buffers.Binary.BinaryPrimitives.WriteHalfLittleEndian(dst[i..], (Half)v); break;
            default: ushort bits = Bf16(v); dst[i] = (byte)bits; dst[i + 1] = (byte)(bits >> 8); break;
        }
    }

    /// <summary>fp32 → bf16, round to nearest even (finite inputs).</summary>
    internal static ushort Bf16(float v)
    {
        uint bits = BitConverter.SingleToUInt32Bits(v);
        return (ushort)((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16);
    }

    static ulong SplitMix(ref ulong state)
    {
        ulong z = state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    static ulong Mix(ulong x) => SplitMix(ref x);

    static ulong Fnv(string s)
    {
        ulong h = 14695981039346656037UL;
        foreach (char c in s) { h ^= c; h *= 1099511628211UL; }
        return h;
    }
}
