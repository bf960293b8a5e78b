using SharpLens.Loading;

namespace SharpLens.Model;

/// <summary>Weight gradients under the names and layouts of checkpoints that fuse or transpose their projections: the
/// inverse of what their family adapters (<c>Loading/Families</c>) view in place.</summary>
public sealed partial class WeightGrads
{
    /// <summary>The named gradients of a GPT-2, GPT-NeoX or Phi-3 checkpoint; null for other families.</summary>
    Dictionary<string, Tensor>? FusedLayoutNames(ModelConfig c) => c.Architecture switch
    {
        "GPT2LMHeadModel" => Gpt2Names(c),
        "GPTNeoXForCausalLM" => NeoXNames(c),
        "Phi3ForCausalLM" => Phi3Names(c),
        _ => null,
    };

    sealed class Named(Dictionary<string, Tensor> r)
    {
        public void Vec(string name, float[] g) { if (g.Length > 0) r[name] = new Tensor(g, g.Length); }
        /// <summary>A [rows, cols] gradient stored as the checkpoint stores it: as is, or transposed (Conv1D's [in, out]).</summary>
        public void Mat(string name, float[] g, int rows, bool inOut = false)
        {
            if (g.Length == 0) return;
            int cols = g.Length / rows;
            r[name] = inOut ? new Tensor(Transpose(g, rows, cols), cols, rows) : new Tensor(g, rows, cols);
        }
    }

    static float[] Transpose(float[] g, int rows, int cols)
    {
        var t = new float[g.Length];
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++) t[j * rows + i] = g[i * cols + j];
        return t;
    }

    static float[] Concat(params float[][] parts) => parts.SelectMany(p => p).ToArray();

    float[] EmbedWithTiedUnembed(ModelConfig c) => c.TieWordEmbeddings ? Embed.Zip(Unembed, (a, b) => a + b).ToArray() : Embed;

    /// <summary>GPT-2: Conv1D weights [in, out]; <c>c_attn</c> [d, 3d] holds q | k | v in column blocks, its bias [3d].</summary>
    Dictionary<string, Tensor> Gpt2Names(ModelConfig c)
    {
        var r = new Dictionary<string, Tensor>(StringComparer.Ordinal); var n = new Named(r);
        string p = _has("transformer.wte.weight") ? "transformer." : "";
        int d = c.DModel, f = c.DMlp;
        n.Mat(p + "wte.weight", EmbedWithTiedUnembed(c), c.VocabSize);
        n.Mat(p + "wpe.weight", PosEmbed, c.MaxPositions);
        for (int l = 0; l < Layers.Length; l++)
        {
            var g = Layers[l]; string h = $"{p}h.{l}.";
            n.Vec(h + "ln_1.weight", g.Ln1); n.Vec(h + "ln_1.bias", g.Ln1Bias);
            n.Mat(h + "attn.c_attn.weight", Concat(g.Wq, g.Wk, g.Wv), 3 * d, inOut: true);
            n.Vec(h + "attn.c_attn.bias", Concat(g.Bq, g.Bk, g.Bv));
            n.Mat(h + "attn.c_proj.weight", g.Wo, d, inOut: true); n.Vec(h + "attn.c_proj.bias", g.Bo);
            n.Vec(h + "ln_2.weight", g.Ln2); n.Vec(h + "ln_2.bias", g.Ln2Bias);
            n.Mat(h + "mlp.c_fc.weight", g.WUp, f, inOut: true); n.Vec(h + "mlp.c_fc.bias", g.BUp);
            n.Mat(h + "mlp.c_proj.weight", g.WDown, d, inOut: true); n.Vec(h + "mlp.c_proj.bias", g.BDown);
        }
        n.Vec(p + "ln_f.weight", LnFinal); n.Vec(p + "ln_f.bias", LnFinalBias);
        if (!c.TieWordEmbeddings) n.Mat("lm_head.weight", Unembed, c.VocabSize);
        return r;
    }

    /// <summary>GPT-NeoX: <c>query_key_value</c> rows (and bias entries) per head [H, 3, d_head]: head h's q, k, v.</summary>
    Dictionary<string, Tensor> NeoXNames(ModelConfig c)
    {
        var r = new Dictionary<string, Tensor>(StringComparer.Ordinal); var n = new Named(r);
        int d = c.DModel, f = c.DMlp, H = c.NHeads, e = c.DHead;
        n.Mat("gpt_neox.embed_in.weight", EmbedWithTiedUnembed(c), c.VocabSize);
        for (int l = 0; l < Layers.Length; l++)
        {
            var g = Layers[l]; string p = $"gpt_neox.layers.{l}.";
            n.Vec(p + "input_layernorm.weight", g.Ln1); n.Vec(p + "input_layernorm.bias", g.Ln1Bias);
            n.Mat(p + "attention.query_key_value.weight", InterleaveHeads(g.Wq, g.Wk, g.Wv, H, e * d), 3 * H * e);
            if (g.Bq.Length > 0) n.Vec(p + "attention.query_key_value.bias", InterleaveHeads(g.Bq, g.Bk, g.Bv, H, e));
            n.Mat(p + "attention.dense.weight", g.Wo, d); n.Vec(p + "attention.dense.bias", g.Bo);
            n.Vec(p + "post_attention_layernorm.weight", g.Ln2); n.Vec(p + "post_attention_layernorm.bias", g.Ln2Bias);
            n.Mat(p + "mlp.dense_h_to_4h.weight", g.WUp, f); n.Vec(p + "mlp.dense_h_to_4h.bias", g.BUp);
            n.Mat(p + "mlp.dense_4h_to_h.weight", g.WDown, d); n.Vec(p + "mlp.dense_4h_to_h.bias", g.BDown);
        }
        n.Vec("gpt_neox.final_layer_norm.weight", LnFinal); n.Vec("gpt_neox.final_layer_norm.bias", LnFinalBias);
        if (!c.TieWordEmbeddings) n.Mat("embed_out.weight", Unembed, c.VocabSize);
        return r;
    }

    /// <summary>Per head h: q's block h, then k's, then v's (each <paramref name="block"/> floats, heads contiguous in the
    /// inputs): GPT-NeoX's [H, 3, …] order.</summary>
    static float[] InterleaveHeads(float[] q, float[] k, float[] v, int H, int block)
    {
        var r = new float[3 * H * block];
        for (int h = 0; h < H; h++)
        {
            q.AsSpan(h * block, block).CopyTo(r.AsSpan((3 * h) * block));
            k.AsSpan(h * block, block).CopyTo(r.AsSpan((3 * h + 1) * block));
            v.AsSpan(h * block, block).CopyTo(r.AsSpan((3 * h + 2) * block));
        }
        return r;
    }

    /// <summary>Phi-3: Llama's names with <c>qkv_proj</c> = rows [q; k; v] and <c>gate_up_proj</c> = rows [gate; up].</summary>
    Dictionary<string, Tensor> Phi3Names(ModelConfig c)
    {
        var r = new Dictionary<string, Tensor>(StringComparer.Ordinal); var n = new Named(r);
        int d = c.DModel, f = c.DMlp, qkv = (c.NHeads + 2 * c.NKvHeads) * c.DHead;
        n.Mat("model.embed_tokens.weight", EmbedWithTiedUnembed(c), c.VocabSize);
        for (int l = 0; l < Layers.Length; l++)
        {
            var g = Layers[l]; string p = $"model.layers.{l}.";
            n.Vec(p + "input_layernorm.weight", g.Ln1);
            n.Mat(p + "self_attn.qkv_proj.weight", Concat(g.Wq, g.Wk, g.Wv), qkv);
            n.Mat(p + "self_attn.o_proj.weight", g.Wo, d);
            n.Vec(p + "post_attention_layernorm.weight", g.Ln2);
            n.Mat(p + "mlp.gate_up_proj.weight", Concat(g.WGate, g.WUp), 2 * f);
            n.Mat(p + "mlp.down_proj.weight", g.WDown, d);
        }
        n.Vec("model.norm.weight", LnFinal);
        if (!c.TieWordEmbeddings) n.Mat("lm_head.weight", Unembed, c.VocabSize);
        return r;
    }
}
