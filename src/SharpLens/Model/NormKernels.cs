using SharpLens.Kernels;
using SharpLens.Loading;

namespace SharpLens.Model;

/// <summary>A norm as two steps around TransformerLens' <c>hook_scale</c>: the row's scale, then the normalised row.</summary>
internal interface INormKernel
{
    float Scale(ReadOnlySpan<float> x, double eps);
    /// <summary>y = norm(x) with the given scale, weight w and bias b (empty: none).</summary>
    void Apply(ReadOnlySpan<float> x, float scale, ReadOnlySpan<float> w, ReadOnlySpan<float> b, Span<float> y);
    /// <summary>Whether TransformerLens' <c>hook_normalized</c> is <c>x / scale</c> before the weight (its RMSNorm) rather
    /// than the norm's output (its LayerNorm).</summary>
    bool HookBeforeWeight { get; }
}

/// <summary>The kernel of each <see cref="NormKind"/>.</summary>
internal static class NormKernels
{
    static readonly Dictionary<NormKind, INormKernel> Table = new()
    {
        [NormKind.RmsNorm] = new Rms(),
        [NormKind.LayerNorm] = new Layer(),
    };

    public static INormKernel For(NormKind kind) => Table[kind];

    sealed class Rms : INormKernel
    {
        public bool HookBeforeWeight => true;
        public float Scale(ReadOnlySpan<float> x, double eps) => RmsNorm.Scale(x, eps);
        public void Apply(ReadOnlySpan<float> x, float scale, ReadOnlySpan<float> w, ReadOnlySpan<float> b, Span<float> y)
        {
            RmsNorm.Apply(x, scale, w, y);
            if (!b.IsEmpty) System.Numerics.Tensors.TensorPrimitives.Add(y, b, y);
        }
    }

    sealed class Layer : INormKernel
    {
        public bool HookBeforeWeight => false;
        public float Scale(ReadOnlySpan<float> x, double eps) => LayerNorm.Scale(x, eps);
        public void Apply(ReadOnlySpan<float> x, float scale, ReadOnlySpan<float> w, ReadOnlySpan<float> b, Span<float> y) =>
            LayerNorm.Apply(x, scale, w, b, y);
    }
}
