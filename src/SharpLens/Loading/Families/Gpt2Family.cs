using System.Text.RegularExpressions;
using SharpLens.Model;

namespace SharpLens.Loading.Families;

/// <summary>
/// GPT-2 (<c>GPT2LMHeadModel</c>): LayerNorm with bias, learned absolute positions (<c>wpe</c>), a plain MLP with
/// <c>activation_function</c> (default <c>gelu_new</c>), biases on every projection, a tied unembedding. Weights are
/// <c>Conv1D</c>s stored [in, out], copied once at load into [out, in] buffers the checkpoint owns
/// (<see cref="Checkpoint.InOutMatrix"/>), so they take the same kernels as every other family; q, k and v are row
/// blocks of the fused <c>c_attn</c> so copied. Tensor names come with or without the <c>transformer.</c> prefix; the attention buffers
/// <c>attn.bias</c> (the causal mask) and <c>attn.masked_bias</c> are skipped whatever their dtype. Config fields and
/// defaults as Hugging Face's <c>GPT2Config</c>: <c>n_embd</c> 768, <c>n_layer</c> 12, <c>n_head</c> 12,
/// <c>n_positions</c> 1024, <c>n_inner</c> 4·n_embd, <c>layer_norm_epsilon</c> 1e-5, <c>vocab_size</c> 50257,
/// <c>scale_attn_weights</c> true, <c>scale_attn_by_inverse_layer_idx</c> false, <c>reorder_and_upcast_attn</c> false,
/// <c>tie_word_embeddings</c> true.
/// </summary>
internal sealed partial class Gpt2Family : IModelFamily
{
    public ModelConfig ReadConfig(ModelConfig.Reader r, string architecture)
    {
        int d = r.OptInt("n_embd") ?? 768, heads = r.OptInt("n_head") ?? 12;
        if (d % heads != 0)
            throw SharpLensException.Checkpoint($"{r.Path}: n_embd {d} is not divisible by n_head {heads}");
        return new ModelConfig
        {
            Architecture = architecture,
            DModel = d,
            DMlp = r.OptInt("n_inner") ?? 4 * d,
            NLayers = r.OptInt("n_layer") ?? 12,
            NHeads = heads,
            NKvHeads = heads,
            DHead = d / heads,
            RmsNormEps = r.OptDouble("layer_norm_epsilon") ?? 1e-5,
            RopeTheta = 10000,   // unused: positions are learned
            VocabSize = r.OptInt("vocab_size") ?? 50257,
            TieWordEmbeddings = r.OptBool("tie_word_embeddings") ?? true,
            QkvBias = true,
            MlpBias = true,
            MaxPositions = r.OptInt("n_positions") ?? 1024,
            Design = new BlockDesign(NormKind.LayerNorm, PositionKind.LearnedAbsolute, MlpKind.Plain,
                BlockDesign.ActivationNamed(r.OptString("activation_function") ?? "gelu_new", "activation_function", r.Path)),
            ScaleAttnWeights = r.OptBool("scale_attn_weights") ?? true,
            ScaleAttnByInverseLayerIdx = r.OptBool("scale_attn_by_inverse_layer_idx") ?? false,
            ReorderAndUpcastAttn = r.OptBool("reorder_and_upcast_attn") ?? false,
        };
    }

    /// <summary>Each layer tensor under <c>h.L.</c>, shape from (d, f): Conv1D weights are [in, out].</summary>
    static readonly (string Name, Func<long, long, long[]> Shape)[] Layer =
    [
        ("ln_1.weight", (d, f) => [d]), ("ln_1.bias", (d, f) => [d]),
        ("attn.c_attn.weight", (d, f) => [d, 3 * d]), ("attn.c_attn.bias", (d, f) => [3 * d]),
        ("attn.c_proj.weight", (d, f) => [d, d]), ("attn.c_proj.bias", (d, f) => [d]),
        ("ln_2.weight", (d, f) => [d]), ("ln_2.bias", (d, f) => [d]),
        ("mlp.c_fc.weight", (d, f) => [d, f]), ("mlp.c_fc.bias", (d, f) => [f]),
        ("mlp.c_proj.weight", (d, f) => [f, d]), ("mlp.c_proj.bias", (d, f) => [d]),
    ];

    /// <summary><c>transformer.</c> when the checkpoint was saved from <c>GPT2LMHeadModel</c>, nothing when from
    /// <c>GPT2Model</c> (as the original gpt2 repository's file is).</summary>
    static string Prefix(Func<string, bool> has) => has("transformer.wte.weight") ? "transformer." : "";

    public IEnumerable<(string Name, long[] Shape)> Tensors(ModelConfig c, Func<string, bool> has)
    {
        string p = Prefix(has);
        long d = c.DModel, f = c.DMlp;
        yield return (p + "wte.weight", [c.VocabSize, d]);
        yield return (p + "wpe.weight", [c.MaxPositions, d]);
        for (int l = 0; l < c.NLayers; l++)
            foreach (var (name, shape) in Layer) yield return ($"{p}h.{l}.{name}", shape(d, f));
        yield return (p + "ln_f.weight", [d]);
        yield return (p + "ln_f.bias", [d]);
        if (!c.TieWordEmbeddings) yield return ("lm_head.weight", [c.VocabSize, d]);
    }

    [GeneratedRegex(@"^(transformer\.)?h\.\d+\.attn\.(bias|masked_bias)$")]
    private static partial Regex AttentionBuffer();

    public bool Skips(string name, ModelConfig c) =>
        AttentionBuffer().IsMatch(name) || (c.TieWordEmbeddings && name == "lm_head.weight");

    /// <summary>The Conv1D weights <see cref="Load"/> copies transposed.</summary>
    static readonly string[] Conv1D = ["attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight"];

    public IEnumerable<string> Copied(ModelConfig c, Func<string, bool> has)
    {
        string p = Prefix(has);
        for (int l = 0; l < c.NLayers; l++)
            foreach (var name in Conv1D) yield return $"{p}h.{l}.{name}";
    }

    public ModelWeights Load(Checkpoint c)
    {
        var cfg = c.Config;
        string p = Prefix(c.Has);
        int d = cfg.DModel;
        var layers = new LayerWeights[cfg.NLayers];
        for (int l = 0; l < cfg.NLayers; l++)
        {
            string h = $"{p}h.{l}.";
            var qkv = c.InOutMatrix(h + "attn.c_attn.weight");           // [3d, d], copied from [d, 3d]
            var qkvBias = c.Vector(h + "attn.c_attn.bias");             // [3d]
            layers[l] = new LayerWeights
            {
                Ln1 = c.Vector(h + "ln_1.weight"),
                Ln1Bias = c.Vector(h + "ln_1.bias"),
                Wq = qkv.RowSlice(0, d),
                Wk = qkv.RowSlice(d, d),
                Wv = qkv.RowSlice(2 * d, d),
                Bq = qkvBias[..d],
                Bk = qkvBias[d..(2 * d)],
                Bv = qkvBias[(2 * d)..],
                Wo = c.InOutMatrix(h + "attn.c_proj.weight"),
                Bo = c.Vector(h + "attn.c_proj.bias"),
                Ln2 = c.Vector(h + "ln_2.weight"),
                Ln2Bias = c.Vector(h + "ln_2.bias"),
                WUp = c.InOutMatrix(h + "mlp.c_fc.weight"),
                BUp = c.Vector(h + "mlp.c_fc.bias"),
                WDown = c.InOutMatrix(h + "mlp.c_proj.weight"),
                BDown = c.Vector(h + "mlp.c_proj.bias"),
            };
        }
        var embed = c.Matrix(p + "wte.weight");
        return new ModelWeights
        {
            Embed = embed,
            PosEmbed = c.Matrix(p + "wpe.weight"),
            Layers = layers,
            LnFinal = c.Vector(p + "ln_f.weight"),
            LnFinalBias = c.Vector(p + "ln_f.bias"),
            Unembed = cfg.TieWordEmbeddings ? embed : c.Matrix("lm_head.weight"),
        };
    }
}
