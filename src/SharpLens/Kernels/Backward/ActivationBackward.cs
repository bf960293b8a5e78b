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
    const float C = 0.7978845608028654f, A = 0.044715f, InvSqrt2 = 0.7071067811865476f, InvSqrt2Pi = 0.3989422804014327f;

    /// <summary>act(x) and act′(x) of every element into y and dydx (fp32; SiLU's sigmoid through TensorPrimitives).</summary>
    public static void ValueAndDerivative(ActivationKind kind, ReadOnlySpan<float> x, Span<float> y, Span<float> dydx)
    {
        switch (kind)
        {
            case ActivationKind.Silu:
                TensorPrimitives.Sigmoid(x, dydx);                          // σ
                TensorPrimitives.Multiply(dydx, x, y);                      // x σ
                for (int i = 0; i < x.Length; i++) dydx[i] = dydx[i] + y[i] * (1 - dydx[i]);   // σ + xσ(1 − σ)
                break;
            case ActivationKind.GeluExact:
                for (int i = 0; i < x.Length; i++)
                {
                    float v = x[i], cdf = 0.5f * (1 + ErfF(v * InvSqrt2));
                    y[i] = v * cdf;
                    dydx[i] = cdf + v * InvSqrt2Pi * MathF.Exp(-0.5f * v * v);
                }
                break;
            default:
                for (int i = 0; i < x.Length; i++)
                {
                    float v = x[i], t = MathF.Tanh(C * (v + A * v * v * v));
                    y[i] = 0.5f * v * (1 + t);
                    dydx[i] = 0.5f * (1 + t) + 0.5f * v * (1 - t * t) * C * (1 + 3 * A * v * v);
                }
                break;
        }
    }

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

    /// <summary>erf in fp32: Abramowitz–Stegun 7.1.26 (absolute error ≤ 1.5e-7).</summary>
    static float ErfF(float z)
    {
        float a = MathF.Abs(z), t = 1 / (1 + 0.3275911f * a);
        float poly = t * (0.254829592f + t * (-0.284496736f + t * (1.421413741f + t * (-1.453152027f + t * 1.061405429f))));
        float r = 1 - poly * MathF.Exp(-a * a);
        return z < 0 ? -r : r;
    }
}
