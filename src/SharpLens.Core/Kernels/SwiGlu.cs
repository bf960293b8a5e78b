using System.Numerics.Tensors;

namespace SharpLens.Kernels;

/// <summary>The gated MLP activation: <c>post = silu(gate) ⊙ up</c>, <c>silu(g) = g · sigmoid(g)</c>.</summary>
public static class SwiGlu
{
    /// <param name="scratch">same length as gate; receives sigmoid(gate)</param>
    public static void Apply(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, Span<float> scratch, Span<float> post)
    {
        TensorPrimitives.Sigmoid(gate, scratch);
        TensorPrimitives.Multiply(scratch, gate, scratch);
        TensorPrimitives.Multiply(scratch, up, post);
    }

    public static void ApplyNaive(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, Span<float> post)
    {
        for (int i = 0; i < gate.Length; i++) post[i] = (float)(gate[i] / (1 + Math.Exp(-(double)gate[i])) * up[i]);
    }
}
