using System.Numerics.Tensors;

namespace SharpLens.Kernels;

/// <summary>
/// Backward of one row of <see cref="RmsNorm"/> and <see cref="LayerNorm"/>, given the forward's input x and its scale
/// s (the divisor √(mean(x²)+ε), or √(var+ε)). With u = dy ⊙ w:
/// RMSNorm: dx = u/s − x·(Σ u⊙x)/(d·s³), dw += dy ⊙ x/s.
/// LayerNorm (x̂ = (x − μ)/s): dx = (u − mean(u) − x̂·mean(u⊙x̂))/s, dw += dy ⊙ x̂, db += dy.
/// dx is accumulated (+=): the residual stream's gradient flows past the norm too.
/// </summary>
public static class NormBackward
{
    /// <param name="tmp">scratch of length ≥ d</param>
    public static void Rms(ReadOnlySpan<float> x, float s, ReadOnlySpan<float> w, ReadOnlySpan<float> dy, Span<float> dx, Span<float> dw, Span<float> tmp)
    {
        int d = x.Length;
        tmp = tmp[..d];
        TensorPrimitives.Multiply(dy, w, tmp);                             // u
        float ux = TensorPrimitives.Dot(tmp, x);
        float inv = 1f / s, c = -ux / (d * s * s * s);
        TensorPrimitives.MultiplyAdd(tmp, inv, dx, dx);
        TensorPrimitives.MultiplyAdd(x, c, dx, dx);
        if (!dw.IsEmpty)
        {
            TensorPrimitives.Multiply(dy, x, tmp);
            TensorPrimitives.MultiplyAdd(tmp, inv, dw, dw);
        }
    }

    /// <param name="tmp">scratch of length 2d</param>
    public static void Layer(ReadOnlySpan<float> x, float s, ReadOnlySpan<float> w, ReadOnlySpan<float> dy, Span<float> dx, Span<float> dw, Span<float> db, Span<float> tmp)
    {
        int d = x.Length;
        var xhat = tmp[..d]; var u = tmp.Slice(d, d);           // tmp: length ≥ 2d
        float mean = TensorPrimitives.Sum(x) / d;
        TensorPrimitives.Subtract(x, mean, xhat);
        TensorPrimitives.Multiply(xhat, 1f / s, xhat);
        TensorPrimitives.Multiply(dy, w, u);
        float mu = TensorPrimitives.Sum(u) / d, mux = TensorPrimitives.Dot(u, xhat) / d;
        if (!dw.IsEmpty)
        {
            // dw += dy ⊙ x̂ before u is overwritten below (u is not needed for it).
            for (int i = 0; i < d; i++) dw[i] += dy[i] * xhat[i];
            if (!db.IsEmpty) TensorPrimitives.Add(db, dy, db);
        }
        TensorPrimitives.Subtract(u, mu, u);
        TensorPrimitives.MultiplyAdd(xhat, -mux, u, u);
        TensorPrimitives.MultiplyAdd(u, 1f / s, dx, dx);
    }

    /// <summary>
    /// The gradient at a norm's scale s (its <c>hook_scale</c>, x held fixed): y = (x − μ)/s ⊙ w (+ b) gives
    /// −Σ (dy ⊙ w) ⊙ (x − μ) / s², with μ the row mean when <paramref name="centered"/> (LayerNorm), else 0 (RMSNorm).
    /// <paramref name="tmp"/> holds ≥ 2d floats (x − μ is formed first: Σ u·x − μ·Σ u would cancel when |μ| ≫ the spread).
    /// </summary>
    public static float ScaleGrad(ReadOnlySpan<float> x, float s, ReadOnlySpan<float> w, ReadOnlySpan<float> dy, bool centered, Span<float> tmp)
    {
        int d = x.Length;
        var u = tmp[..d];
        TensorPrimitives.Multiply(dy, w, u);
        if (!centered) return -TensorPrimitives.Dot(u, x) / (s * s);
        var xc = tmp.Slice(d, d);
        TensorPrimitives.Subtract(x, TensorPrimitives.Sum(x) / d, xc);
        return -TensorPrimitives.Dot(u, xc) / (s * s);
    }

    /// <summary>Naive reference of <see cref="ScaleGrad"/> (double).</summary>
    public static float ScaleGradNaive(ReadOnlySpan<float> x, float s, ReadOnlySpan<float> w, ReadOnlySpan<float> dy, bool centered)
    {
        double mean = 0, sum = 0;
        if (centered) { for (int i = 0; i < x.Length; i++) mean += x[i]; mean /= x.Length; }
        for (int i = 0; i < x.Length; i++) sum += (double)dy[i] * w[i] * (x[i] - mean);
        return (float)(-sum / ((double)s * s));
    }

    /// <summary>Naive reference of <see cref="Rms"/> (double).</summary>
    public static void RmsNaive(ReadOnlySpan<float> x, float s, ReadOnlySpan<float> w, ReadOnlySpan<float> dy, Span<float> dx, Span<float> dw)
    {
        int d = x.Length; double ux = 0;
        for (int i = 0; i < d; i++) ux += (double)dy[i] * w[i] * x[i];
        for (int i = 0; i < d; i++)
        {
            dx[i] += (float)((double)dy[i] * w[i] / s - x[i] * ux / ((double)d * s * s * s));
            if (!dw.IsEmpty) dw[i] += (float)((double)dy[i] * x[i] / s);
        }
    }

    /// <summary>Naive reference of <see cref="Layer"/> (double).</summary>
    public static void LayerNaive(ReadOnlySpan<float> x, float s, ReadOnlySpan<float> w, ReadOnlySpan<float> dy, Span<float> dx, Span<float> dw, Span<float> db)
    {
        int d = x.Length; double mean = 0, mu = 0, mux = 0;
        for (int i = 0; i < d; i++) mean += x[i];
        mean /= d;
        for (int i = 0; i < d; i++) { double u = (double)dy[i] * w[i]; mu += u; mux += u * (x[i] - mean) / s; }
        mu /= d; mux /= d;
        for (int i = 0; i < d; i++)
        {
            double xh = (x[i] - mean) / s, u = (double)dy[i] * w[i];
            dx[i] += (float)((u - mu - xh * mux) / s);
            if (!dw.IsEmpty) dw[i] += (float)(dy[i] * xh);
            if (!db.IsEmpty) db[i] += dy[i];
        }
    }
}
