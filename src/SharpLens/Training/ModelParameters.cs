using System.Text.Json.Nodes;
using SharpLens.Loading;
using SharpLens.Statistics;

namespace SharpLens.Training;

/// <summary>One trainable tensor: its checkpoint name and shape, fp32 data in a pinned array (the GEMM reads matrices
/// in place through <see cref="Matrix"/>).</summary>
public sealed class Parameter
{
    public string Name { get; }
    public long[] Shape { get; }
    public float[] Data { get; }
    /// <summary>A rank-2 tensor [out, in] as the GEMM's weight operand (default for vectors).</summary>
    public WeightMatrix Matrix { get; }

    internal Parameter(string name, long[] shape)
    {
        Name = name; Shape = shape;
        Data = GC.AllocateArray<float>((int)shape.Aggregate(1L, (a, b) => a * b), pinned: true);
        if (shape.Length == 2) Matrix = WeightMatrix.FromPinned(Data, (int)shape[0], (int)shape[1]);
    }
}

/// <summary>
/// The weights of a Qwen2-architecture model (RMSNorm, rotary, SwiGLU, q/k/v biases) as trainable fp32 tensors under
/// their Hugging Face names and in the family's order, created from a seed as <c>docs/reference/setcomp.py</c> initialises
/// the demo model, or read from a checkpoint. <see cref="ZerosLike"/> gives the matching gradient buffers.
/// </summary>
public sealed class ModelParameters
{
    readonly Dictionary<string, Parameter> _byName = new(StringComparer.Ordinal);

    public ModelConfig Config { get; }
    /// <summary>config.json's text (written beside the weights).</summary>
    public string ConfigJson { get; }
    /// <summary>Every tensor, in the order <see cref="Checkpoint.ExpectedTensors"/> lists them.</summary>
    public IReadOnlyList<Parameter> All { get; }
    public Parameter this[string name] => _byName[name];
    public long Count => All.Sum(p => p.Data.LongLength);

    ModelParameters(string configJson)
    {
        ConfigJson = configJson;
        Config = ModelConfig.Parse(configJson);
        if (Config.Architecture != "Qwen2ForCausalLM")
            throw SharpLensException.Input($"training supports Qwen2ForCausalLM checkpoints only (this one is {IO.UntrustedText.Quote(Config.Architecture, 60)})");
        var list = new List<Parameter>();
        foreach (var (name, shape) in Checkpoint.ExpectedTensors(Config))
        {
            var p = new Parameter(name, shape);
            list.Add(p); _byName[name] = p;
        }
        All = list;
    }

    /// <summary>config.json of a Qwen2 model of the demo's kind (tied embeddings, f32, rope θ 10,000, 256 positions).</summary>
    public static string Qwen2ConfigJson(int layers, int dModel, int heads, int dMlp, int vocab)
    {
        var c = new JsonObject
        {
            ["architectures"] = new JsonArray("Qwen2ForCausalLM"), ["model_type"] = "qwen2", ["hidden_act"] = "silu",
            ["attention_dropout"] = 0.0, ["bos_token_id"] = null, ["eos_token_id"] = null, ["initializer_range"] = 0.02,
            ["max_position_embeddings"] = 256, ["max_window_layers"] = layers, ["rms_norm_eps"] = 1e-6, ["rope_theta"] = 10000.0,
            ["sliding_window"] = 4096, ["use_sliding_window"] = false, ["use_cache"] = true, ["transformers_version"] = "4.37.0",
            ["hidden_size"] = dModel, ["intermediate_size"] = dMlp, ["num_hidden_layers"] = layers, ["num_attention_heads"] = heads,
            ["num_key_value_heads"] = heads, ["vocab_size"] = vocab, ["tie_word_embeddings"] = true, ["torch_dtype"] = "float32",
        };
        return c.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true });
    }

    /// <summary>
    /// Fresh weights drawn from <paramref name="seed"/> as setcomp.py draws them: embedding N(0, 0.1²); every projection
    /// N(0, 1/in) except the output and down projections, N(0, 0.25/in); biases 0; norm weights 1.
    /// </summary>
    public static ModelParameters Initialize(string configJson, ulong seed)
    {
        var m = new ModelParameters(configJson);
        var rng = new SeededRandom(seed);
        foreach (var p in m.All)
        {
            if (p.Name.EndsWith("norm.weight", StringComparison.Ordinal)) { Array.Fill(p.Data, 1f); continue; }
            if (p.Shape.Length == 1) continue;                                   // biases
            double std = p.Name switch
            {
                "model.embed_tokens.weight" or "lm_head.weight" => 0.1,
                _ when p.Name.EndsWith("o_proj.weight", StringComparison.Ordinal) || p.Name.EndsWith("down_proj.weight", StringComparison.Ordinal)
                    => 0.5 / Math.Sqrt(p.Shape[1]),
                _ => 1 / Math.Sqrt(p.Shape[1]),
            };
            for (int i = 0; i < p.Data.Length; i++) p.Data[i] = (float)(std * Normal(rng));
        }
        return m;
    }

    /// <summary>A standard normal draw (Box–Muller on two 53-bit uniforms): the same on every machine.</summary>
    internal static double Normal(SeededRandom rng)
    {
        double u1 = ((rng.NextUInt64() >> 11) + 1) * (1.0 / 9007199254740992.0), u2 = (rng.NextUInt64() >> 11) * (1.0 / 9007199254740992.0);
        return Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }

    /// <summary>Zeroed tensors of the same names and shapes (gradient buffers, optimizer moments).</summary>
    public ModelParameters ZerosLike() => new(ConfigJson);

    /// <summary>The weights of a checkpoint directory (any stored dtype, widened to fp32).</summary>
    /// <exception cref="SharpLensException">for a missing or damaged checkpoint, or one that is not Qwen2.</exception>
    public static ModelParameters FromCheckpoint(string dir)
    {
        string configPath = Path.Combine(dir, "config.json");
        IO.RegularFile.Require(configPath, configPath, ExitCode.Checkpoint);
        var m = new ModelParameters(File.ReadAllText(configPath));
        using var ckpt = Checkpoint.Open(dir);
        foreach (var p in m.All) ckpt.Vector(p.Name).CopyTo(p.Data);
        return m;
    }

    /// <summary>Overwrites every tensor from <paramref name="file"/>'s tensors named <paramref name="prefix"/> + name.</summary>
    internal void ReadFrom(SafeTensorsFile file, string prefix)
    {
        foreach (var p in All)
        {
            if (!file.Entries.TryGetValue(prefix + p.Name, out var e) || e.DType != DType.F32 || e.ElementCount != p.Data.Length)
                throw SharpLensException.Checkpoint($"{file.Path}: no F32 tensor {prefix + p.Name} of {p.Data.Length} elements");
            unsafe { new ReadOnlySpan<float>((void*)file.DataPointer(e), p.Data.Length).CopyTo(p.Data); }
        }
    }

    /// <summary>The tensors as (name, shape, data) under <paramref name="prefix"/> + name, for <see cref="SafeTensorsWriter"/>.</summary>
    public IEnumerable<(string Name, long[] Shape, float[] Data)> Tensors(string prefix = "") => All.Select(p => (prefix + p.Name, p.Shape, p.Data));
}
