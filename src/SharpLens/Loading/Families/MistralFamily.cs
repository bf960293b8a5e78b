using SharpLens.Model;

namespace SharpLens.Loading.Families;

/// <summary>
/// Mistral (<c>MistralForCausalLM</c>): Llama's layout and design with no biases anywhere and sliding-window attention on
/// every layer (<c>sliding_window</c>, default 4096 when absent, none when null; <see cref="ModelConfig.WindowAt"/>),
/// grouped-query attention, <c>head_dim</c> from the config when present (Mistral-Nemo).
/// </summary>
internal sealed class MistralFamily : IModelFamily
{
    static readonly LlamaBiases Biases = new(Qkv: false, O: false, Mlp: false);

    public ModelConfig ReadConfig(ModelConfig.Reader r, string architecture) => ModelConfig.ReadLlamaStyle(r, architecture);

    public IEnumerable<(string Name, long[] Shape)> Tensors(ModelConfig c, Func<string, bool> has) => LlamaLayout.Tensors(c, Biases);

    public bool Skips(string name, ModelConfig c) => LlamaLayout.Skips(name, c);

    public ModelWeights Load(Checkpoint c) => LlamaLayout.Load(c, Biases);
}
