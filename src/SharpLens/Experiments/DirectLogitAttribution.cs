using System.Numerics.Tensors;
using System.Text.Json.Nodes;
using SharpLens.Kernels;
using SharpLens.Model;

namespace SharpLens.Experiments;

/// <summary>
/// Direct logit attribution at the final position: each component's output c (the embedding, learned position
/// embedding, every head's <c>hook_result</c>, every layer's output bias, every <c>hook_mlp_out</c>) contributes
/// <c>(c' / ln_final.hook_scale[last]) · (w_final ⊙ W_U[t])</c> to the logit of token t, where c' is c centred
/// (<c>c − mean(c)</c>) when the final norm is a LayerNorm and c itself under RMSNorm (TransformerLens'
/// <c>apply_ln_to_stack</c>); a final LayerNorm's bias adds its own entry <c>bias = b_final · W_U[t]</c>. The entries sum
/// to the logit exactly. Under <see cref="Processing.Tl"/> head results exclude the folded value bias
/// (<see cref="FoldedValueBias"/>, reported per layer in <c>attn_bias</c> with b_O) and W_U is centred over all
/// vocabulary rows (except for soft-capped models, attention or final, where TransformerLens turns <c>center_unembed</c> off). With post-norms
/// (Gemma 2) a head's result and b_O pass through <c>ln1_post</c> at the run's own scale
/// (<c>⊙ w_ln1_post / ln1_post.hook_scale[last]</c>, summing to <c>hook_attn_out</c>); <c>hook_mlp_out</c> is already
/// after <c>ln2_post</c>. With a final soft-cap the entries sum to the logit before the cap (<c>logits</c>; the model's
/// capped output is <c>logits_softcapped</c>, and <c>logit_definition</c> says so): the cap is not linear.
/// </summary>
public sealed class DirectLogitAttribution
{
    readonly StudyRuns _runs;
    readonly Processing _processing;
    readonly float[] _meanUnembed;   // [d]: mean of W_U's rows (tl), zeros (hf)

    public DirectLogitAttribution(StudyRuns runs, Processing processing)
    {
        _runs = runs; _processing = processing;
        var c = runs.Model.Config;
        _meanUnembed = new float[c.DModel];
        if (processing == Processing.Tl && !SoftCapped(c))
        {
            var wu = runs.Model.Weights.Unembed;
            var row = new float[c.DModel];
            var sum = new double[c.DModel];
            for (int t = 0; t < wu.Rows; t++)
            {
                wu.ReadRow(t, row);
                for (int i = 0; i < row.Length; i++) sum[i] += row[i];
            }
            for (int i = 0; i < sum.Length; i++) _meanUnembed[i] = (float)(sum[i] / wu.Rows);
        }
    }

    static bool SoftCapped(Loading.ModelConfig c) => c.FinalSoftcap != null || c.AttnSoftcap != null;

    /// <summary>Component outputs at the final position of one run, already centred (LayerNorm) and divided by the final
    /// scale: [d] each; PosEmbed null without learned positions.</summary>
    sealed record Components(float[] Embed, float[]? PosEmbed, float[][][] Heads, float[][] AttnBias, float[][] Mlp);

    /// <summary>TransformerLens' value bias of one layer after <c>fold_ln</c>: <c>b_V + W_V · b_ln1</c> [n_kv·d_head]
    /// (b_V alone under RMSNorm, whose norm has no bias; empty when the layer has neither). <c>fold_value_biases</c> moves
    /// it into b_O; zero ablation under <see cref="Processing.Tl"/> sets <c>hook_z</c> to it.</summary>
    public static float[] FoldedValueBias(LayerWeights w, int nKvHeads, int dHead)
    {
        if (w.Ln1Bias.Length == 0) return w.Bv;
        var folded = new float[nKvHeads * dHead];
        for (int g = 0; g < nKvHeads; g++)   // per head: the value rows of a fused q/k/v layout are not contiguous
            Gemm.LinearForward(w.Ln1Bias, 1, w.VHead(g, dHead), w.Bv.Length > 0 ? w.Bv.AsSpan(g * dHead, dHead) : default,
                folded.AsSpan(g * dHead, dHead));
        return folded;
    }

    readonly Components?[] _components = new Components?[2];

    /// <summary>The components of the clean or corrupted run, computed once. A head's result at the final position is
    /// W_O[:, h] · z[last, h] (the base runs do not cache hook_result: [pos, heads, d_model] per layer is the largest
    /// activation there is, and only its final row is read).</summary>
    Components Read(bool clean) => _components[clean ? 0 : 1] ??= Compute(clean);

    Components Compute(bool clean)
    {
        var m = _runs.Model; var c = m.Config; var cache = clean ? _runs.Clean : _runs.Corrupted;
        int d = c.DModel, H = c.NHeads, e = c.DHead, last = _runs.Tokens.Last;
        float scale = cache[HookNames.LnFinalScale].Data[last];
        bool centre = c.Design.Norm == Loading.NormKind.LayerNorm;
        float[] Scaled(ReadOnlySpan<float> v)
        {
            var r = v.ToArray();
            if (centre) TensorPrimitives.Subtract(r, TensorPrimitives.Sum(r) / r.Length, r);
            TensorPrimitives.Divide(r, scale, r);
            return r;
        }

        var heads = new float[c.NLayers][][];
        var attnBias = new float[c.NLayers][];
        var mlp = new float[c.NLayers][];
        for (int l = 0; l < c.NLayers; l++)
        {
            var names = m.HookNames.Layers[l]; var w = m.Weights.Layers[l];
            mlp[l] = Scaled(cache[names.MlpOut].Data.AsSpan(last * d, d));
            heads[l] = new float[H][];
            float postScale = c.Design.PostNorms ? cache[names.Ln1PostScale].Data[last] : 1;
            // Through ln1_post at this run's scale (post-norm designs), before the final norm's scale.
            float[] Out(float[] v)
            {
                if (c.Design.PostNorms)
                {
                    TensorPrimitives.Multiply(v, w.Ln1Post, v);
                    TensorPrimitives.Divide(v, postScale, v);
                }
                return Scaled(v);
            }
            attnBias[l] = w.Bo.Length > 0 ? Out(w.Bo.ToArray()) : new float[d];
            var bv = _processing == Processing.Tl ? FoldedValueBias(w, c.NKvHeads, c.DHead) : [];
            bool fold = bv.Length > 0;
            for (int h = 0; h < H; h++)
            {
                var z = cache[names.Z].Data.AsSpan((last * H + h) * e, e).ToArray();
                var o = new float[d];
                if (!fold)
                {
                    Gemm.LinearForward(z, 1, w.Wo.ColSlice(h * e, e), default, o);
                    heads[l][h] = Out(o);
                    continue;
                }
                var bvh = bv.AsSpan(h / c.GroupSize * e, e);
                TensorPrimitives.Subtract(z, bvh, z);
                var bo = new float[d];
                Gemm.LinearForward(z, 1, w.Wo.ColSlice(h * e, e), default, o);
                Gemm.LinearForward(bvh, 1, w.Wo.ColSlice(h * e, e), default, bo);
                heads[l][h] = Out(o);
                TensorPrimitives.Add(attnBias[l], Out(bo), attnBias[l]);
            }
        }
        float[]? pos = cache.Contains(HookNames.PosEmbed) ? Scaled(cache[HookNames.PosEmbed].Data.AsSpan(last * d, d)) : null;
        return new Components(Scaled(cache[HookNames.Embed].Data.AsSpan(last * d, d)), pos, heads, attnBias, mlp);
    }

    /// <summary>w_final ⊙ (W_U[t] − mean) for token t.</summary>
    float[] Direction(int token)
    {
        var dir = UnembedDirection(token);
        TensorPrimitives.Multiply(dir, _runs.Model.Weights.LnFinal, dir);
        return dir;
    }

    /// <summary>W_U[t] − mean (mean zero under hf).</summary>
    float[] UnembedDirection(int token)
    {
        var dir = new float[_runs.Model.Config.DModel];
        _runs.Model.Weights.Unembed.ReadRow(token, dir);
        TensorPrimitives.Subtract(dir, _meanUnembed, dir);
        return dir;
    }

    /// <summary>The dla_* object for <paramref name="tokens"/> on the clean or corrupted run.</summary>
    public JsonObject For(bool clean, int[] tokens)
    {
        var comp = Read(clean);
        var dirs = tokens.Select(Direction).ToArray();
        JsonArray Dla(float[] v) => Json.Row(dirs.Select(dir => (double)TensorPrimitives.Dot(v, dir)));
        var logits = (clean ? _runs.CleanLogits : _runs.CorruptedLogits).Slice(0).ToArray();
        double? cap = _runs.Model.Config.FinalSoftcap;
        bool softCapped = SoftCapped(_runs.Model.Config);
        double mean = _processing == Processing.Tl && !softCapped ? logits.Sum(v => (double)v) / logits.Length : 0;
        // The logit before the final soft-cap c·tanh(l/c): what the (linear) components sum to.
        double PreCap(int t) => cap is { } c ? c * Math.Atanh(logits[t] / c) : logits[t];
        var o = new JsonObject
        {
            ["tokens"] = Json.Row(tokens),
            ["embed"] = Dla(comp.Embed),
        };
        if (comp.PosEmbed != null) o["pos_embed"] = Dla(comp.PosEmbed);
        o["heads"] = new JsonArray(comp.Heads.Select(layer => (JsonNode?)new JsonArray(layer.Select(h => (JsonNode?)Dla(h)).ToArray())).ToArray());
        // Output biases get their own entry wherever they contribute: always under tl (folded value biases), under hf
        // when the layers have a b_O, and in the LayerNorm families (GPT-2, GPT-NeoX), whose references list the entry even
        // when it is zero (GPT-NeoX with attention_bias false).
        if (_processing == Processing.Tl || _runs.Model.Weights.Layers.Any(w => w.Bo.Length > 0)
            || _runs.Model.Config.Design.Norm == Loading.NormKind.LayerNorm)
            o["attn_bias"] = new JsonArray(comp.AttnBias.Select(b => (JsonNode?)Dla(b)).ToArray());
        o["mlp"] = new JsonArray(comp.Mlp.Select(v => (JsonNode?)Dla(v)).ToArray());
        if (_runs.Model.Weights.LnFinalBias is { Length: > 0 } bFinal)
            o["bias"] = Json.Row(tokens.Select(t => (double)TensorPrimitives.Dot(bFinal, UnembedDirection(t))));
        o["logits"] = Json.Row(tokens.Select(t => PreCap(t) - mean));
        if (softCapped)   // the pair appears for every soft-capped model, equal when only attention is capped
        {
            o["logits_softcapped"] = Json.Row(tokens.Select(t => (double)logits[t]));
            o["logit_definition"] = "logits before final_logit_softcapping (components sum to these)";
        }
        return o;
    }

    /// <summary>head_top_tokens: for each head, the <paramref name="k"/> ids its final-position result promotes most,
    /// over the ids the tokenizer defines (padding rows of W_U skipped).</summary>
    public int[][][] TopTokens(bool clean, int k, Func<int, bool> isDefined)
    {
        var comp = Read(clean);
        var c = _runs.Model.Config;
        var vectors = comp.Heads.SelectMany(l => l).Select(v =>
        {
            var y = v.ToArray();
            TensorPrimitives.Multiply(y, _runs.Model.Weights.LnFinal, y);
            return y;
        }).ToArray();
        var top = VocabularyScan.TopK(_runs.Model.Weights.Unembed, vectors, k, isDefined, _meanUnembed);
        return top.Chunk(c.NHeads).ToArray();
    }
}
