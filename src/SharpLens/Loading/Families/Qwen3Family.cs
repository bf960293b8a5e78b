using SharpLens.Model;

namespace SharpLens.Loading.Families;

/// <summary>
/// Qwen3 (<c>Qwen3ForCausalLM</c>): Llama's layout with a per-head RMSNorm of queries and keys before rotary
/// (<c>self_attn.q_norm.weight</c>, <c>k_norm.weight</c> [head_dim], eps <c>rms_norm_eps</c>;
/// <see cref="BlockDesign.QkNorm"/>), <c>head_dim</c> from the config (default 128, need not be hidden_size / heads),
/// <c>attention_bias</c> on q, k, v and o, no MLP biases, Qwen2's sliding-window fields.
/// </summary>
internal sealed class Qwen3Family : IModelFamily
{
    static LlamaBiases Biases(ModelConfig c) => new(Qkv: c.QkvBias, O: c.QkvBias, Mlp: false);

    public ModelConfig ReadConfig(ModelConfig.Reader r, string architecture)
    {
        var c = ModelConfig.ReadLlamaStyle(r, architecture);
        return c with { Design = c.Design with { QkNorm = true }, LayerWindows = r.QwenLayerWindows() };
    }

    public IEnumerable<(string Name, long[] Shape)> Tensors(ModelConfig c, Func<string, bool> has)
    {
        foreach (var t in LlamaLayout.Tensors(c, Biases(c))) yield return t;
        for (int l = 0; l < c.NLayers; l++)
        {
            yield return ($"model.layers.{l}.self_attn.q_norm.weight", [c.DHead]);
            yield return ($"model.layers.{l}.self_attn.k_norm.weight", [c.DHead]);
        }
    }

    public bool Skips(string name, ModelConfig c) => LlamaLayout.Skips(name, c);

    public ModelWeights Load(Checkpoint c) => LlamaLayout.Load(c, Biases(c.Config), qkNorm: true);
}
