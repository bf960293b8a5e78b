using System.Numerics.Tensors;
using SharpLens.Loading;

namespace SharpLens.Kernels;

/// <summary>
/// Backward of <see cref="Activations"/>: plain (dx = dy ⊙ act′(x)) and gated (post = act(gate) ⊙ up:
/// dgate = dpost ⊙ up ⊙ act′(gate), dup = dpost ⊙ act(gate)).
/// act′: SiLU σ(x)(1 + x(1 − σ(x))); exact GELU Φ(x) + x·φ(x); tanh GELU 0.5(1 + t) + 0.5x(1 − t²)·c(1 + 3a·x²),
/// t = tanh(c(x + a·x³)), c = √(2/π), a = 0.044715.
/// </summary>
public static class ActivationBackward
{
    /// <summary>act(x) and act′(x) of every element into y and dydx (fp32, at <see cref="KernelOptions.EffectiveLevel"/>:
    /// <see cref="ActivationDerivative"/>).</summary>
    public static void ValueAndDerivative(ActivationKind kind, ReadOnlySpan<float> x, Span<float> y, Span<float> dydx) =>
        ActivationDerivative.Run(kind, x, y, dydx, KernelOptions.EffectiveLevel);

    /// <summary>dx = dy ⊙ act′(x); <paramref name="scratch"/> has x.Length floats.</summary>
    public static void Plain(ActivationKind kind, ReadOnlySpan<float> x, ReadOnlySpan<float> dy, Span<float> dx, Span<float> scratch)
    {
        ValueAndDerivative(kind, x, scratch, dx);
        TensorPrimitives.Multiply(dx, dy, dx);
    }

    /// <summary>dgate = dpost ⊙ up ⊙ act′(gate), dup = dpost ⊙ act(gate).</summary>
    public static void Gated(ActivationKind kind, ReadOnlySpan<float> gate, ReadOnlySpan<float> up, ReadOnlySpan<float> dpost, Span<float> dgate, Span<float> dup)
    {
        ValueAndDerivative(kind, gate, dup, dgate);
        TensorPrimitives.Multiply(dgate, up, dgate);
        TensorPrimitives.Multiply(dgate, dpost, dgate);
        TensorPrimitives.Multiply(dup, dpost, dup);
    }

    /// <summary>Naive reference of act′ in double (erf from <see cref="Gelu"/>'s series).</summary>
    public static double DerivativeNaive(ActivationKind kind, double v) => kind switch
    {
        ActivationKind.Silu => Sig(v) * (1 + v * (1 - Sig(v))),
        ActivationKind.GeluExact => 0.5 * (1 + Gelu.Erf(v / Math.Sqrt(2))) + v * Math.Exp(-0.5 * v * v) / Math.Sqrt(2 * Math.PI),
        _ => TanhGeluDerivative(v),
    };

    /// <summary>Naive reference of <see cref="Plain"/>.</summary>
    public static void PlainNaive(ActivationKind kind, ReadOnlySpan<float> x, ReadOnlySpan<float> dy, Span<float> dx)
    {
        for (int i = 0; i < x.Length; i++) dx[i] = (float)(dy[i] * DerivativeNaive(kind, x[i]));
    }

    /// <summary>Naive reference of <see cref="Gated"/>.</summary>
    public static void GatedNaive(ActivationKind kind, ReadOnlySpan<float> gate, ReadOnlySpan<float> up, ReadOnlySpan<float> dpost, Span<float> dgate, Span<float> dup)
    {
        var act = new float[gate.Length];
        Activations.ApplyNaive(kind, gate, act);
        for (int i = 0; i < gate.Length; i++)
        {
            dgate[i] = (float)((double)dpost[i] * up[i] * DerivativeNaive(kind, gate[i]));
            dup[i] = (float)((double)dpost[i] * act[i]);
        }
    }

    static double Sig(double v) => 1 / (1 + Math.Exp(-v));

    static double TanhGeluDerivative(double v)
    {
        double c = Math.Sqrt(2 / Math.PI), t = Math.Tanh(c * (v + 0.044715 * v * v * v));
        return 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * c * (1 + 3 * 0.044715 * v * v);
    }
}
