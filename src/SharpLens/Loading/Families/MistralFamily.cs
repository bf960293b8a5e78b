using SharpLens.Model;

namespace SharpLens.Loading.Families;

/// <summary>
/// Mistral (<c>MistralForCausalLM</c>): Llama's layout and design with no biases anywhere and sliding-window attention on
/// every layer (<c>sliding_window</c>, default 4096 when absent, none when null; <see cref="ModelConfig.LayerWindows"/>),
/// grouped-query attention, <c>head_dim</c> from the config when present (Mistral-Nemo).
/// </summary>
internal sealed class MistralFamily : IModelFamily
{
    static readonly LlamaBiases Biases = new(Qkv: false, O: false, Mlp: false);

    public ModelConfig ReadConfig(ModelConfig.Reader r, string architecture)
    {
        var c = ModelConfig.ReadLlamaStyle(r, architecture);
        return c with { LayerWindows = ModelConfig.WindowsFromLayer(c.NLayers, r.SlidingWindow()) };
    }

    public IEnumerable<(string Name, long[] Shape)> Tensors(ModelConfig c, Func<string, bool> has) => LlamaLayout.Tensors(c, Biases);

    public bool Skips(string name, ModelConfig c) => LlamaLayout.Skips(name, c);

    public ModelWeights Load(Checkpoint c) => LlamaLayout.Load(c, Biases);
}
