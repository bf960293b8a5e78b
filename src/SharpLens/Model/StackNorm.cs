using System.Numerics.Tensors;
using SharpLens.Loading;

namespace SharpLens.Model;

/// <summary>
/// What a family's normalisation does to one component of the residual stream when the stream's scale is held fixed —
/// the one step of <see cref="ActivationCache.ApplyLnToStack"/> that depends on the family. With the scale frozen, a
/// norm is linear in its input, so the components of a decomposed stream can be normalised one by one and still sum to
/// the normalised stream. The norm's weight is not applied here (it is folded into the unembedding directions, see
/// <see cref="HookedTransformer.TokensToResidualDirections"/>).
/// </summary>
public interface IStackNorm
{
    /// <summary>The scale the norm would compute for <paramref name="x"/> itself (<c>hook_scale</c> of a run on x).</summary>
    float Scale(ReadOnlySpan<float> x);

    /// <summary>Normalises one component in place at the given scale.</summary>
    void Apply(Span<float> x, float scale);
}

/// <summary>The norms of the families SharpLens runs.</summary>
public static class StackNorms
{
    /// <summary>RMSNorm (Qwen2, Llama): <c>x / scale</c>; scale = <c>sqrt(mean(x²) + eps)</c>.</summary>
    public sealed class Rms(double eps) : IStackNorm
    {
        public float Scale(ReadOnlySpan<float> x) => Kernels.RmsNorm.Scale(x, eps);
        public void Apply(Span<float> x, float scale) => TensorPrimitives.Multiply(x, 1f / scale, x);
    }

    /// <summary>LayerNorm (GPT-2 and alike): centred first, then <c>/ scale</c>; scale = <c>sqrt(var(x) + eps)</c>. As
    /// TransformerLens' <c>apply_ln_to_stack</c> does, each component is centred on its own (centring is linear too).</summary>
    public sealed class Layer(double eps) : IStackNorm
    {
        public float Scale(ReadOnlySpan<float> x)
        {
            float mean = TensorPrimitives.Sum(x) / x.Length;
            double var = 0;
            foreach (float v in x) var += (double)(v - mean) * (v - mean);
            return (float)Math.Sqrt(var / x.Length + eps);
        }

        public void Apply(Span<float> x, float scale)
        {
            float mean = TensorPrimitives.Sum(x) / x.Length;
            TensorPrimitives.Subtract(x, mean, x);
            TensorPrimitives.Multiply(x, 1f / scale, x);
        }
    }

    /// <summary>The norm of a model's family, from its block design (<see cref="ModelConfig.RmsNormEps"/> holds the
    /// family's epsilon, <c>layer_norm_epsilon</c> for LayerNorm families).</summary>
    public static IStackNorm For(ModelConfig config) => config.Design.Norm switch
    {
        NormKind.LayerNorm => new Layer(config.RmsNormEps),
        _ => new Rms(config.RmsNormEps),
    };
}
