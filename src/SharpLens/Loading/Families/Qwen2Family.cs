using SharpLens.Model;

namespace SharpLens.Loading.Families;

/// <summary>
/// Qwen2 (<c>Qwen2ForCausalLM</c>, also Qwen1.5 and Qwen2.5): Llama's layout and design with biases on q, k and v
/// (always, whatever <c>attention_bias</c> says) and none elsewhere; with <c>use_sliding_window</c> the layers from
/// <c>max_window_layers</c> on attend within <c>sliding_window</c> (<see cref="ModelConfig.LayerWindows"/>).
/// </summary>
internal sealed class Qwen2Family : IModelFamily
{
    static readonly LlamaBiases Biases = new(Qkv: true, O: false, Mlp: false);

    public ModelConfig ReadConfig(ModelConfig.Reader r, string architecture) =>
        ModelConfig.ReadLlamaStyle(r, architecture) with { LayerWindows = r.QwenLayerWindows() };

    public IEnumerable<(string Name, long[] Shape)> Tensors(ModelConfig c, Func<string, bool> has) => LlamaLayout.Tensors(c, Biases);

    public bool Skips(string name, ModelConfig c) => LlamaLayout.Skips(name, c);

    public ModelWeights Load(Checkpoint c) => LlamaLayout.Load(c, Biases);
}
