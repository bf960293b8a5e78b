using SharpLens.Model;

namespace SharpLens.Loading.Families;

/// <summary>
/// What one model family contributes: its <c>config.json</c> fields mapped onto <see cref="ModelConfig"/> and
/// <see cref="BlockDesign"/>, the Hugging Face tensor names and layouts it stores, and the tensors it stores but the
/// forward pass does not read. Everything else (the forward pass, hooks, experiments) is shared.
/// </summary>
internal interface IModelFamily
{
    ModelConfig ReadConfig(ModelConfig.Reader r, string architecture);

    /// <summary>Every tensor the config implies, with its shape; <paramref name="has"/> says which names the checkpoint
    /// holds (for names that vary between exporters).</summary>
    IEnumerable<(string Name, long[] Shape)> Tensors(ModelConfig c, Func<string, bool> has);

    /// <summary>Whether a tensor the checkpoint holds beyond <see cref="Tensors"/> may be ignored.</summary>
    bool Skips(string name, ModelConfig c);

    /// <summary>The tensors <see cref="Load"/> copies into memory the model owns (beyond the mapped files), for the
    /// memory budget: GPT-2's <c>Conv1D</c> weights, transposed once to [out, in].</summary>
    IEnumerable<string> Copied(ModelConfig c, Func<string, bool> has) => [];

    ModelWeights Load(Checkpoint c);
}

/// <summary>The supported families: Hugging Face <c>architectures[0]</c> → adapter.</summary>
public static class ModelFamilies
{
    static readonly (string Architecture, IModelFamily Family)[] Table =
    [
        ("Qwen2ForCausalLM", new Qwen2Family()),
        ("LlamaForCausalLM", new LlamaFamily()),
        ("GPT2LMHeadModel", new Gpt2Family()),
        ("MistralForCausalLM", new MistralFamily()),
        ("Qwen3ForCausalLM", new Qwen3Family()),
        ("GPTNeoXForCausalLM", new GptNeoXFamily()),
        ("Phi3ForCausalLM", new Phi3Family()),
        ("Gemma2ForCausalLM", new Gemma2Family()),
    ];

    /// <summary>The architecture names accepted in <c>config.json</c>, in the order messages list them.</summary>
    public static readonly string[] Architectures = Table.Select(t => t.Architecture).ToArray();

    internal static IModelFamily Of(string architecture) =>
        Table.FirstOrDefault(t => t.Architecture == architecture).Family
        ?? throw SharpLensException.Checkpoint($"architecture {architecture} is not supported; supported: {string.Join(", ", Architectures)}");
}
