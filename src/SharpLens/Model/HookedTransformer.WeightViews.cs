using SharpLens.Loading;
using static SharpLens.Model.WeightView;

namespace SharpLens.Model;

/// <summary>
/// The parameters in TransformerLens' layout and names (right-multiplying: <c>x @ W_Q[l, h]</c> gives head h's query),
/// as views over the checkpoint's stored [out, in] matrices (no copies). With grouped-query attention <c>W_K</c> and
/// <c>W_V</c> have one entry per query head, repeating each key/value head as TransformerLens does. Biases the family
/// lacks are zeros.
/// </summary>
public sealed partial class HookedTransformer
{
    /// <summary>Rows between heads in the stored q/k/v matrices (d_head, or 3·d_head in GPT-NeoX's fused layout).</summary>
    int HeadStep => Weights.Layers[0].HeadStep(Config.DHead);

    WeightMatrix[] PerLayer(Func<LayerWeights, WeightMatrix> pick) => Weights.Layers.Select(pick).ToArray();

    /// <summary>[n_layers, n_heads, d_model, d_head]: <c>W_Q[l, h, i, j] = q_proj[h·d_head + j, i]</c>.</summary>
    public WeightView W_Q => new(PerLayer(w => w.Wq), true, [new(Config.NHeads, HeadStep, 0), new(Config.DModel, 0, 1), new(Config.DHead, 1, 0)]);
    /// <summary>[n_layers, n_heads, d_model, d_head] (key/value head h / group for query head h).</summary>
    public WeightView W_K => new(PerLayer(w => w.Wk), true, [new(Config.NHeads, HeadStep, 0, Config.GroupSize), new(Config.DModel, 0, 1), new(Config.DHead, 1, 0)]);
    /// <summary>[n_layers, n_heads, d_model, d_head] (key/value head h / group for query head h).</summary>
    public WeightView W_V => new(PerLayer(w => w.Wv), true, [new(Config.NHeads, HeadStep, 0, Config.GroupSize), new(Config.DModel, 0, 1), new(Config.DHead, 1, 0)]);
    /// <summary>[n_layers, n_heads, d_head, d_model]: <c>W_O[l, h, j, i] = o_proj[i, h·d_head + j]</c>.</summary>
    public WeightView W_O => new(PerLayer(w => w.Wo), true, [new(Config.NHeads, 0, Config.DHead), new(Config.DHead, 0, 1), new(Config.DModel, 1, 0)]);
    /// <summary>[n_layers, d_model, d_mlp]: the up projection (TransformerLens' <c>W_in</c> of a gated MLP).</summary>
    public WeightView W_in => new(PerLayer(w => w.WUp), true, [new(Config.DModel, 0, 1), new(Config.DMlp, 1, 0)]);
    /// <summary>[n_layers, d_model, d_mlp]: the gate projection.</summary>
    public WeightView W_gate => new(PerLayer(w => w.WGate), true, [new(Config.DModel, 0, 1), new(Config.DMlp, 1, 0)]);
    /// <summary>[n_layers, d_mlp, d_model]: the down projection.</summary>
    public WeightView W_out => new(PerLayer(w => w.WDown), true, [new(Config.DMlp, 0, 1), new(Config.DModel, 1, 0)]);
    /// <summary>[d_vocab, d_model]: the token embedding.</summary>
    public WeightView W_E => WeightView.Of(Weights.Embed);
    /// <summary>[d_model, d_vocab]: the unembedding (lm_head, or the embedding when tied), transposed.</summary>
    public WeightView W_U => new([Weights.Unembed], false, [new(Config.DModel, 0, 1), new(Weights.Unembed.Rows, 1, 0)]);

    /// <summary>[n_layers, n_heads, d_head] (zeros without q/k/v biases).</summary>
    public Tensor b_Q => HeadBias(w => w.Bq, 1);
    /// <summary>[n_layers, n_heads, d_head], key/value heads repeated per query head.</summary>
    public Tensor b_K => HeadBias(w => w.Bk, Config.GroupSize);
    /// <summary>[n_layers, n_heads, d_head], key/value heads repeated per query head.</summary>
    public Tensor b_V => HeadBias(w => w.Bv, Config.GroupSize);
    /// <summary>[n_layers, d_model]: zeros (o_proj has no bias in these families).</summary>
    public Tensor b_O => Tensor.Zeros(Config.NLayers, Config.DModel);
    /// <summary>[d_vocab]: zeros (lm_head has no bias).</summary>
    public Tensor b_U => Tensor.Zeros(Config.VocabSize);

    Tensor HeadBias(Func<LayerWeights, float[]> pick, int group)
    {
        int H = Config.NHeads, e = Config.DHead;
        var t = Tensor.Zeros(Config.NLayers, H, e);
        for (int l = 0; l < Config.NLayers; l++)
        {
            var b = pick(Weights.Layers[l]);
            if (b.Length == 0) continue;
            for (int h = 0; h < H; h++) b.AsSpan(h / group * e, e).CopyTo(t.Data.AsSpan((l * H + h) * e, e));
        }
        return t;
    }
}
