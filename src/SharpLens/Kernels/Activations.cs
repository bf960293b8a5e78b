using System.Numerics.Tensors;
using SharpLens.Loading;

namespace SharpLens.Kernels;

/// <summary>
/// The MLP activation a <see cref="BlockDesign"/> names, applied elementwise: plain (<c>post = act(pre)</c>) or gated
/// (<c>post = act(gate) ⊙ up</c>; SiLU goes through the fused <see cref="SwiGlu"/>). Large inputs are split into
/// contiguous chunks across <see cref="KernelOptions.EffectiveThreads"/> threads (elementwise: the result is the same).
/// </summary>
public static unsafe class Activations
{
    /// <summary>Elements below which the activation stays on the calling thread (as <see cref="SwiGlu"/>).</summary>
    const int ParallelElements = 1 << 16;

    /// <summary>y = act(x); y may be x.</summary>
    public static void Apply(ActivationKind kind, ReadOnlySpan<float> x, Span<float> y)
    {
        var level = KernelOptions.EffectiveLevel;
        ForChunks(x, y, (xs, ys) => Chunk(kind, xs, ys, level));
    }

    /// <summary>post = act(gate) ⊙ up; scratch (length of gate) may be post.</summary>
    public static void ApplyGated(ActivationKind kind, ReadOnlySpan<float> gate, ReadOnlySpan<float> up, Span<float> scratch, Span<float> post)
    {
        if (kind == ActivationKind.Silu)
        {
            SwiGlu.Apply(gate, up, scratch, post);
            return;
        }
        Apply(kind, gate, post);
        TensorPrimitives.Multiply(post, up, post);
    }

    static void Chunk(ActivationKind kind, ReadOnlySpan<float> x, Span<float> y, SimdLevel level)
    {
        switch (kind)
        {
            case ActivationKind.Silu:
                TensorPrimitives.Sigmoid(x, y);
                TensorPrimitives.Multiply(y, x, y);
                break;
            case ActivationKind.GeluExact: Gelu.Run(x, y, exact: true, level); break;
            case ActivationKind.GeluTanh: Gelu.Run(x, y, exact: false, level); break;
            default: throw new ArgumentOutOfRangeException(nameof(kind), kind, null);
        }
    }

    /// <summary>Naive reference of <see cref="Apply"/>, in double.</summary>
    public static void ApplyNaive(ActivationKind kind, ReadOnlySpan<float> x, Span<float> y)
    {
        switch (kind)
        {
            case ActivationKind.Silu:
                for (int i = 0; i < x.Length; i++) y[i] = (float)(x[i] / (1 + Math.Exp(-(double)x[i])));
                break;
            case ActivationKind.GeluExact: Gelu.ExactNaive(x, y); break;
            default: Gelu.TanhNaive(x, y); break;
        }
    }

    delegate void ChunkBody(ReadOnlySpan<float> x, Span<float> y);

    static void ForChunks(ReadOnlySpan<float> x, Span<float> y, ChunkBody body)
    {
        int n = x.Length, threads = Math.Min(KernelOptions.EffectiveThreads, n / (ParallelElements / 2));
        if (threads <= 1)
        {
            body(x, y);
            return;
        }
        fixed (float* px = x, py = y)
        {
            nint ax = (nint)px, ay = (nint)py;
            int per = (n + threads - 1) / threads;
            KernelThreads.For(threads, threads, t =>
            {
                int i0 = t * per, len = Math.Min(per, n - i0);
                if (len > 0) body(new ReadOnlySpan<float>((float*)ax + i0, len), new Span<float>((float*)ay + i0, len));
            });
        }
    }
}
