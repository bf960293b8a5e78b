using SharpLens.Loading;

namespace SharpLens.Model;

/// <summary>
/// A scalar function of the logits [1, T, V] that also writes its gradient ∂metric/∂logits (same layout, zeroed on entry)
/// and returns its value. <see cref="Metrics"/> has the usual ones.
/// </summary>
public delegate double LogitMetric(Tensor logits, Span<float> dLogits);

/// <summary>Metrics for <see cref="HookedTransformer.Backward"/>.</summary>
public static class Metrics
{
    /// <summary>logits[pos, answer] − logits[pos, wrong] (pos −1: the final position).</summary>
    public static LogitMetric LogitDiff(int answer, int wrong, int pos = -1) => (logits, d) =>
    {
        int T = logits.Shape[1], V = logits.Shape[2], p = pos < 0 ? T + pos : pos;
        d[p * V + answer] += 1; d[p * V + wrong] -= 1;
        return logits.Data[p * V + answer] - logits.Data[p * V + wrong];
    };

    /// <summary>Mean next-token cross-entropy over positions 0…T−2 (predicting tokens[1…T−1]).</summary>
    public static LogitMetric NextTokenLoss(int[] tokens) => (logits, d) =>
    {
        int T = logits.Shape[1], V = logits.Shape[2];
        if (T < 2) throw SharpLensException.Input("a next-token loss needs at least two tokens");
        double loss = 0;
        for (int p = 0; p < T - 1; p++)
        {
            var row = logits.Data.AsSpan(p * V, V);
            double max = double.NegativeInfinity, sum = 0;
            foreach (float v in row) max = Math.Max(max, v);
            foreach (float v in row) sum += Math.Exp(v - max);
            double lse = max + Math.Log(sum);
            loss += lse - row[tokens[p + 1]];
            for (int v = 0; v < V; v++) d[p * V + v] = (float)(Math.Exp(row[v] - lse) / (T - 1));
            d[p * V + tokens[p + 1]] -= 1f / (T - 1);
        }
        return loss / (T - 1);
    };
}

/// <summary>Gradients of a metric with respect to one layer's weights, row-major in the [out, in] layout of
/// <see cref="LayerWeights"/> (an absent weight or bias: empty); Wq, Wk, Wv and their biases with heads contiguous
/// ([n_heads·d_head, d_model], [n_kv_heads·d_head, d_model]) whatever the checkpoint fuses or interleaves.</summary>
public sealed class LayerWeightGrads
{
    public float[] Ln1 = [], Ln1Bias = [], Wq = [], Bq = [], Wk = [], Bk = [], Wv = [], Bv = [], Wo = [], Bo = [],
        Ln2 = [], Ln2Bias = [], WGate = [], BGate = [], WUp = [], BUp = [], WDown = [], BDown = [];
    /// <summary>Qwen3's per-head q/k norm weights [d_head] and Gemma 2's post-attention / post-MLP norm weights [d_model]
    /// (with respect to the stored w of its <c>1 + w</c> norms: the same numbers); empty where the design has none.</summary>
    public float[] QNorm = [], KNorm = [], Ln1Post = [], Ln2Post = [];

    internal LayerWeightGrads(LayerWeights w, ModelConfig c)
    {
        static float[] M(WeightMatrix m) => new float[(long)m.Rows * m.Cols];
        long q = (long)c.NHeads * c.DHead * c.DModel, kv = (long)c.NKvHeads * c.DHead * c.DModel;   // GPT-NeoX's views span more rows
        Ln1 = new float[w.Ln1.Length]; Ln1Bias = new float[w.Ln1Bias.Length];
        Wq = new float[q]; Bq = new float[w.Bq.Length]; Wk = new float[kv]; Bk = new float[w.Bk.Length]; Wv = new float[kv]; Bv = new float[w.Bv.Length];
        Wo = M(w.Wo); Bo = new float[w.Bo.Length];
        Ln2 = new float[w.Ln2.Length]; Ln2Bias = new float[w.Ln2Bias.Length];
        WGate = M(w.WGate); BGate = new float[w.BGate.Length]; WUp = M(w.WUp); BUp = new float[w.BUp.Length];
        WDown = M(w.WDown); BDown = new float[w.BDown.Length];
        QNorm = new float[w.QNorm.Length]; KNorm = new float[w.KNorm.Length];
        Ln1Post = new float[w.Ln1Post.Length]; Ln2Post = new float[w.Ln2Post.Length];
    }
}

/// <summary>Gradients of a metric with respect to every weight (fp32, the layouts of <see cref="ModelWeights"/>).</summary>
public sealed partial class WeightGrads
{
    public float[] Embed, PosEmbed, LnFinal, LnFinalBias, Unembed;
    public LayerWeightGrads[] Layers;
    /// <summary>Which tensor names the checkpoint holds (for names that vary between exporters, e.g. GPT-2's
    /// <c>transformer.</c> prefix).</summary>
    readonly Func<string, bool> _has;

    internal WeightGrads(ModelWeights w, ModelConfig c, Func<string, bool> has)
    {
        _has = has;
        Embed = new float[(long)w.Embed.Rows * w.Embed.Cols];
        PosEmbed = new float[(long)w.PosEmbed.Rows * w.PosEmbed.Cols];
        LnFinal = new float[w.LnFinal.Length]; LnFinalBias = new float[w.LnFinalBias.Length];
        Unembed = new float[(long)w.Unembed.Rows * w.Unembed.Cols];
        Layers = w.Layers.Select(l => new LayerWeightGrads(l, c)).ToArray();
    }

    /// <summary>
    /// The gradients under the checkpoint's own tensor names, shapes and layouts: Qwen2 / Llama / Mistral / Qwen3 /
    /// Gemma 2 <c>model.layers.L.…</c> [out, in] (Gemma 2's norms named as its checkpoint names them, their gradients with
    /// respect to the stored w of <c>1 + w</c>); Phi-3's fused <c>qkv_proj</c> and <c>gate_up_proj</c>; GPT-2's <c>h.L.…</c>
    /// (with the checkpoint's <c>transformer.</c> prefix when it has one) in Conv1D's [in, out] layout, <c>c_attn</c> [d, 3d];
    /// GPT-NeoX's per-head interleaved <c>query_key_value</c>. With tied embeddings the embedding's tensor holds the
    /// embedding's and the unembedding's gradients summed.
    /// </summary>
    /// <exception cref="NotSupportedException">for a family whose names are not mapped yet: use the fields.</exception>
    public Dictionary<string, Tensor> ByCheckpointName(ModelConfig c)
    {
        if (FusedLayoutNames(c) is { } fused) return fused;
        if (c.Design.Norm != NormKind.RmsNorm) throw new NotSupportedException("checkpoint names are mapped for Qwen2/Llama layouts only");
        int d = c.DModel, q = c.NHeads * c.DHead, kv = c.NKvHeads * c.DHead, f = c.DMlp;
        var r = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        void Vec(string name, float[] g) { if (g.Length > 0) r[name] = new Tensor(g, g.Length); }
        void Mat(string name, float[] g, int rows) { if (g.Length > 0) r[name] = new Tensor(g, rows, g.Length / rows); }
        Mat("model.embed_tokens.weight", c.TieWordEmbeddings ? Embed.Zip(Unembed, (a, b) => a + b).ToArray() : Embed, c.VocabSize);
        for (int l = 0; l < Layers.Length; l++)
        {
            var g = Layers[l]; string p = $"model.layers.{l}.";
            Vec(p + "input_layernorm.weight", g.Ln1);
            Mat(p + "self_attn.q_proj.weight", g.Wq, q); Vec(p + "self_attn.q_proj.bias", g.Bq);
            Mat(p + "self_attn.k_proj.weight", g.Wk, kv); Vec(p + "self_attn.k_proj.bias", g.Bk);
            Mat(p + "self_attn.v_proj.weight", g.Wv, kv); Vec(p + "self_attn.v_proj.bias", g.Bv);
            Mat(p + "self_attn.o_proj.weight", g.Wo, d); Vec(p + "self_attn.o_proj.bias", g.Bo);
            Vec(p + "self_attn.q_norm.weight", g.QNorm); Vec(p + "self_attn.k_norm.weight", g.KNorm);
            // Gemma 2: post_attention_layernorm is the attention output's post-norm; the pre-MLP norm is pre_feedforward_layernorm
            Vec(p + (c.Design.PostNorms ? "pre_feedforward_layernorm.weight" : "post_attention_layernorm.weight"), g.Ln2);
            Vec(p + "post_attention_layernorm.weight", g.Ln1Post); Vec(p + "post_feedforward_layernorm.weight", g.Ln2Post);
            Mat(p + "mlp.gate_proj.weight", g.WGate, f); Vec(p + "mlp.gate_proj.bias", g.BGate);
            Mat(p + "mlp.up_proj.weight", g.WUp, f); Vec(p + "mlp.up_proj.bias", g.BUp);
            Mat(p + "mlp.down_proj.weight", g.WDown, d); Vec(p + "mlp.down_proj.bias", g.BDown);
        }
        Vec("model.norm.weight", LnFinal);
        if (!c.TieWordEmbeddings) Mat("lm_head.weight", Unembed, c.VocabSize);
        return r;
    }
}

/// <summary>
/// What <see cref="HookedTransformer.Backward"/> returns: the metric, the logits, the forward activations kept (those its
/// <c>cacheFilter</c> asks for, and whatever the backward read), the hook gradients asked for ([1, ...] like the cache)
/// and the weight gradients when asked.
/// </summary>
/// <remarks>Disposing it is optional and pays in loops: <c>using var g = model.Backward(…)</c> hands the logits',
/// activations' and hook gradients' arrays back to the model, so the next call reuses their memory instead of faulting in
/// ~200 MB of fresh pages (1.8B model, 25 tokens). After that, <see cref="Logits"/> and <see cref="HookGrads"/> throw
/// <see cref="ObjectDisposedException"/> and the cache is empty (copy what you keep first); the weight gradients are
/// not pooled and stay valid.</remarks>
public sealed class GradientResult : IDisposable
{
    readonly Tensor _logits;
    readonly Dictionary<string, Tensor> _hookGrads;
    readonly TensorPool? _pool;                                            // where the arrays came from (null: not pooled)
    bool _disposed;

    internal GradientResult(double metric, Tensor logits, ActivationCache activations, Dictionary<string, Tensor> hookGrads,
        WeightGrads? weights, TensorPool? pool)
    {
        Metric = metric; _logits = logits; Activations = activations; _hookGrads = hookGrads; Weights = weights; _pool = pool;
    }

    /// <summary>The metric's value.</summary>
    public double Metric { get; }
    /// <summary>The logits [1, pos, vocab].</summary>
    public Tensor Logits => _disposed ? throw Disposed() : _logits;
    /// <summary>The forward activations kept.</summary>
    public ActivationCache Activations { get; }
    /// <summary>The gradient at each hook asked for, [1, ...per-prompt shape].</summary>
    public IReadOnlyDictionary<string, Tensor> HookGrads => _disposed ? throw Disposed() : _hookGrads;
    /// <summary>The weights' gradients (null unless asked for).</summary>
    public WeightGrads? Weights { get; }

    static ObjectDisposedException Disposed() =>
        new(nameof(GradientResult), "this gradient result was disposed: its arrays are reused by later runs");

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        Activations.Dispose();
        if (_pool == null) return;
        _pool.Return(_logits.Data);
        foreach (var g in _hookGrads.Values) _pool.Return(g.Data);
        _hookGrads.Clear();
    }
}

public sealed partial class HookedTransformer
{
    /// <summary>
    /// One forward and one backward pass of <paramref name="tokens"/>: the gradient of <paramref name="metric"/> at every
    /// hook <paramref name="hookFilter"/> passes (all hooks when null; TransformerLens' backward hooks) and, when
    /// <paramref name="weights"/>, at every weight. The activations backward needs are kept for this call only.
    /// <paramref name="hooks"/> may change activations of the forward (e.g. interpolate <c>hook_embed</c> for integrated
    /// gradients): the backward differentiates the run as hooked, holding what the hooks wrote fixed.
    /// </summary>
    public GradientResult Backward(int[] tokens, LogitMetric metric, Func<string, bool>? hookFilter = null, bool weights = false,
        Func<string, bool>? cacheFilter = null, HookSet? hooks = null)
    {
        if (BackwardPass.Unsupported(Config) is { } missing)
            throw SharpLensException.Input($"gradients are not implemented for {missing} yet: the backward pass does not differentiate it");
        var saved = BackwardPass.SavedNames(HookNames, Config.Design);
        hooks ??= HookSet.Empty;
        int L = Config.NLayers, segment = BackwardSegment(tokens.Length);
        // Recomputing: the first forward keeps the top segment's activations (and what the final norm's backward reads)
        // and, for every other segment, the residual stream where it starts: the block before's hook_resid_post, so that
        // no hook runs twice on one value.
        int top = segment >= L ? 0 : (L - 1) / segment * segment;
        var keep = saved.Where(n => Experiments.Intervention.LayerOf(n) >= top).ToHashSet(StringComparer.Ordinal);
        for (int start = segment; start < top; start += segment) keep.Add(HookNames.Layers[start - 1].ResidPost);
        var fwd = Forward([tokens], new RunOptions { Hooks = hooks, CacheFilter = n => keep.Contains(n) || (cacheFilter?.Invoke(n) ?? false) });
        var logits = fwd.Logits!;
        var dLogits = Pool.RentZeroed(logits.Data.Length);
        double value = metric(logits, dLogits);
        var wg = weights ? new WeightGrads(Weights, Config, _checkpoint.Has) : null;
        var pass = new BackwardPass(this, fwd.Cache, tokens.Length, hookFilter ?? (_ => true), wg);
        if (segment >= L) pass.Run(tokens, dLogits);
        else
            pass.Run(tokens, dLogits, segment, (first, end) => first == top ? null : Forward([tokens], new RunOptions
            {
                Hooks = hooks, Logits = LogitsMode.None, StartLayer = first, StopAtLayer = end,
                StartResidual = first == 0 ? null : fwd.Cache[HookNames.Layers[first - 1].ResidPost],
                // What the caller asked for as well: a hook point that is cached can take another path (hook_result:
                // per-head products), so the rerun then computes exactly what the first forward did.
                CacheFilter = n => (saved.Contains(n) || (cacheFilter?.Invoke(n) ?? false))
                    && Experiments.Intervention.LayerOf(n) is int l && l >= first && l < end,
            }).Cache);
        Pool.Return(dLogits);
        return new GradientResult(value, logits, fwd.Cache, pass.Grads, wg, Pool);
    }

    /// <summary>
    /// The most bytes of forward activations a <see cref="Backward"/> keeps at once (1 GB by default). A prompt whose
    /// activations would take more is differentiated by gradient checkpointing: the forward keeps the last few blocks'
    /// activations and the residual stream every few blocks, and the backward recomputes each lower segment when it
    /// reaches it (at most one more forward of the blocks; hooks on recomputed blocks, and <c>hook_embed</c>, run again, so
    /// they must give the same output for the same input). The bound covers activations; the hook gradients returned
    /// are on top (every hook's by default: pass a <c>hookFilter</c> to keep fewer).
    /// </summary>
    public long GradientActivationBytes { get; set; } = 1L << 30;

    /// <summary>Blocks per recomputed segment for a prompt of <paramref name="positions"/> tokens: n_layers (no
    /// recomputation) while every block's saved activations fit <see cref="GradientActivationBytes"/>.</summary>
    internal int BackwardSegment(int positions)
    {
        long perBlock = BackwardPass.SavedFloatsPerBlock(Config, positions) * sizeof(float);
        return (int)Math.Clamp(GradientActivationBytes / Math.Max(perBlock, 1), 1, Config.NLayers);
    }

    /// <summary>
    /// <see cref="RunWithCache(int[][], Func{string, bool}?)"/> of one prompt with, when <paramref name="includeBackward"/>,
    /// the gradient of <paramref name="metric"/> at each cached hook under <c>name + "_grad"</c> (TransformerLens'
    /// <c>incl_bwd</c>), e.g. <c>cache["blocks.0.hook_resid_pre_grad"]</c>.
    /// </summary>
    public (Tensor Logits, ActivationCache Cache) RunWithCache(int[] tokens, LogitMetric metric, bool includeBackward, Func<string, bool>? filter = null)
    {
        filter ??= _ => true;
        if (!includeBackward) return RunWithCache([tokens], filter);
        var r = Backward(tokens, metric, filter, weights: false, cacheFilter: filter);
        var cache = new ActivationCache { Model = this, Batch = r.Activations.Batch };
        foreach (var name in r.Activations.Names.Where(filter).ToList()) r.Activations.MoveTo(name, cache);
        r.Activations.Dispose();                                           // what backward alone needed goes back to the pool
        foreach (var (name, g) in r.HookGrads) cache.SetOwned(name + "_grad", g, Pool);
        return (r.Logits, cache);
    }
}
