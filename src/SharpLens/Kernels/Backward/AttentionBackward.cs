using System.Numerics.Tensors;

namespace SharpLens.Kernels;

/// <summary>
/// Backward of causal softmax attention (<c>Attention.Scores</c>, <see cref="Attention.Pattern"/>,
/// <see cref="Attention.WeightedValues"/>) with grouped key/value heads. Layouts as the forward: q, dq [B, n, H, e];
/// k, v, dk, dv [B, T, G, e]; pattern, dPattern, dScores [B, H, n, T]; dz [B, n, H, e]; query i sits at absolute
/// position q0 + i and sees keys j ≤ q0 + i.
/// dP[i,j] = dz[i]·v[j] (masked entries too, as autograd has them: the pattern is a full [n, T] operand of z = P·v); dS = P ⊙ (dP − Σ_j P dP); dq[i] = scale Σ_j dS[i,j] k[j];
/// dk[j] += scale Σ_i dS[i,j] q[i]; dv[j] += Σ_i P[i,j] dz[i]. dq, dk, dv are overwritten.
/// With a soft-cap c &gt; 0 (Gemma 2) the scores S are capped (<c>cappedScores</c>, the forward's [B, H, n, T]
/// with −∞ where masked): dScores is the gradient of the capped scores, and q and k get it through the cap,
/// dS ⊙ (1 − (S/c)²) (<see cref="SoftCapBackward"/>). Keys outside a sliding window have P = 0, so they get nothing.
/// </summary>
public static class AttentionBackward
{
    public static void Run(ReadOnlySpan<float> pattern, ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v,
        ReadOnlySpan<float> dz, int B, int n, int T, int q0, int H, int G, int e, float scale,
        Span<float> dPattern, Span<float> dScores, Span<float> dq, Span<float> dk, Span<float> dv,
        ReadOnlySpan<float> cappedScores = default, float softcap = 0)
    {
        dq.Clear(); dk.Clear(); dv.Clear();
        var capped = softcap > 0 ? cappedScores.ToArray() : null;
        int group = H / G;
        // One task per (item, kv head): the query heads of a group write the same dk, dv rows.
        var p = pattern.ToArray(); var qa = q.ToArray(); var ka = k.ToArray(); var va = v.ToArray(); var dza = dz.ToArray();
        var dP = new float[dPattern.Length]; var dS = new float[dScores.Length];
        var dqa = new float[dq.Length]; var dka = new float[dk.Length]; var dva = new float[dv.Length];
        Parallel.For(0, B * G, new ParallelOptions { MaxDegreeOfParallelism = KernelOptions.EffectiveThreads }, bg =>
        {
            int b = bg / G, g = bg % G;
            for (int h = g * group; h < (g + 1) * group; h++)
                for (int i = 0; i < n; i++)
                {
                    int row = ((b * H + h) * n + i) * T, last = Math.Min(T - 1, q0 + i);
                    var dzi = dza.AsSpan(((b * n + i) * H + h) * e, e);
                    var qi = qa.AsSpan(((b * n + i) * H + h) * e, e);
                    var dqi = dqa.AsSpan(((b * n + i) * H + h) * e, e);
                    float dot = 0;
                    for (int j = 0; j <= last; j++)
                    {
                        int kv = ((b * T + j) * G + g) * e;
                        float pij = p[row + j], dpij = TensorPrimitives.Dot(dzi, va.AsSpan(kv, e));
                        dP[row + j] = dpij;
                        dot += pij * dpij;
                        if (pij != 0) TensorPrimitives.MultiplyAdd(dzi, pij, dva.AsSpan(kv, e), dva.AsSpan(kv, e));
                    }
                    for (int j = last + 1; j < T; j++) dP[row + j] = TensorPrimitives.Dot(dzi, va.AsSpan(((b * T + j) * G + g) * e, e));
                    for (int j = 0; j <= last; j++)
                    {
                        int kv = ((b * T + j) * G + g) * e;
                        float ds = p[row + j] * (dP[row + j] - dot);
                        dS[row + j] = ds;
                        if (ds == 0) continue;
                        if (capped != null) ds *= SoftCapBackward.Slope(capped[row + j], softcap);   // through the cap
                        TensorPrimitives.MultiplyAdd(ka.AsSpan(kv, e), ds * scale, dqi, dqi);
                        TensorPrimitives.MultiplyAdd(qi, ds * scale, dka.AsSpan(kv, e), dka.AsSpan(kv, e));
                    }
                }
        });
        dP.CopyTo(dPattern); dS.CopyTo(dScores); dqa.CopyTo(dq); dka.CopyTo(dk); dva.CopyTo(dv);
    }

    /// <summary>Naive reference of <see cref="Run"/> (same contract; plain loops, double accumulation).</summary>
    public static void RunNaive(ReadOnlySpan<float> pattern, ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v,
        ReadOnlySpan<float> dz, int B, int n, int T, int q0, int H, int G, int e, float scale,
        Span<float> dPattern, Span<float> dScores, Span<float> dq, Span<float> dk, Span<float> dv,
        ReadOnlySpan<float> cappedScores = default, float softcap = 0)
    {
        dPattern.Clear(); dScores.Clear();
        var dka = new double[dk.Length]; var dva = new double[dv.Length];
        for (int b = 0; b < B; b++)
            for (int h = 0; h < H; h++)
                for (int i = 0; i < n; i++)
                {
                    int g = h / (H / G), row = ((b * H + h) * n + i) * T, last = Math.Min(T - 1, q0 + i), qi = ((b * n + i) * H + h) * e;
                    var dp = new double[T]; double dot = 0;
                    for (int j = 0; j <= last; j++)
                    {
                        int kv = ((b * T + j) * G + g) * e;
                        for (int c = 0; c < e; c++) { dp[j] += (double)dz[qi + c] * v[kv + c]; dva[kv + c] += (double)pattern[row + j] * dz[qi + c]; }
                        dot += pattern[row + j] * dp[j];
                        dPattern[row + j] = (float)dp[j];
                    }
                    for (int j = last + 1; j < T; j++)
                    {
                        double masked = 0;
                        for (int c = 0; c < e; c++) masked += (double)dz[qi + c] * v[((b * T + j) * G + g) * e + c];
                        dPattern[row + j] = (float)masked;
                    }
                    var dqi = new double[e];
                    for (int j = 0; j <= last; j++)
                    {
                        int kv = ((b * T + j) * G + g) * e;
                        double ds = pattern[row + j] * (dp[j] - dot);
                        dScores[row + j] = (float)ds;
                        if (softcap > 0 && ds != 0)
                        {
                            double t = Math.Clamp(cappedScores[row + j] / (double)softcap, -1, 1);
                            ds *= 1 - t * t;
                        }
                        for (int c = 0; c < e; c++) { dqi[c] += ds * scale * k[kv + c]; dka[kv + c] += ds * scale * q[qi + c]; }
                    }
                    for (int c = 0; c < e; c++) dq[qi + c] = (float)dqi[c];
                }
        for (int i = 0; i < dk.Length; i++) { dk[i] = (float)dka[i]; dv[i] = (float)dva[i]; }
    }
}
