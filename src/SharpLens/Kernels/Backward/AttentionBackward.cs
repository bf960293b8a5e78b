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
public static unsafe class AttentionBackward
{
    public static void Run(ReadOnlySpan<float> pattern, ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v,
        ReadOnlySpan<float> dz, int B, int n, int T, int q0, int H, int G, int e, float scale,
        Span<float> dPattern, Span<float> dScores, Span<float> dq, Span<float> dk, Span<float> dv,
        ReadOnlySpan<float> cappedScores = default, float softcap = 0)
    {
        dPattern[..(B * H * n * T)].Clear(); dScores[..(B * H * n * T)].Clear();
        dq[..(B * n * H * e)].Clear(); dk[..(B * T * G * e)].Clear(); dv[..(B * T * G * e)].Clear();
        fixed (float* p = pattern, qp = q, kp = k, vp = v, dzp = dz, dPp = dPattern, dSp = dScores, dqp = dq, dkp = dk, dvp = dv, cp = cappedScores)
        {
            var a = new Operands(p, qp, kp, vp, dzp, dPp, dSp, dqp, dkp, dvp, softcap > 0 ? cp : null, n, T, q0, H, G, e, scale, softcap);
            // One item per (batch item, kv head): the query heads of a group write the same dk, dv rows. The kernels'
            // own threads (not the pool's, which join a short loop late on a busy machine: KernelThreads).
            int threads = (long)B * H * n * T * e < 1 << 16 ? 1 : KernelOptions.EffectiveThreads;
            KernelThreads.For(B * G, threads, bg => KvHead(a, bg / G, bg % G));
        }
    }

    /// <summary>The pointers and sizes of one <see cref="Run"/> call (valid while it runs).</summary>
    readonly struct Operands(float* p, float* q, float* k, float* v, float* dz, float* dP, float* dS, float* dq, float* dk, float* dv,
        float* capped, int n, int t, int q0, int h, int g, int e, float scale, float softcap)
    {
        public readonly float* P = p, Q = q, K = k, V = v, Dz = dz, DP = dP, DS = dS, Dq = dq, Dk = dk, Dv = dv;
        /// <summary>The capped scores [B, H, n, T]; null without a soft-cap.</summary>
        public readonly float* Capped = capped;
        public readonly int N = n, T = t, Q0 = q0, H = h, G = g, E = e;
        public readonly float Scale = scale, Softcap = softcap;
    }

    /// <summary>Every query head of kv head g of batch item b.</summary>
    static void KvHead(in Operands a, int b, int g)
    {
        int n = a.N, T = a.T, H = a.H, G = a.G, e = a.E, group = H / G;
        for (int h = g * group; h < (g + 1) * group; h++)
            for (int i = 0; i < n; i++)
            {
                int row = ((b * H + h) * n + i) * T, last = Math.Min(T - 1, a.Q0 + i), qi = ((b * n + i) * H + h) * e;
                var dzi = new ReadOnlySpan<float>(a.Dz + qi, e);
                var qrow = new ReadOnlySpan<float>(a.Q + qi, e);
                var dqi = new Span<float>(a.Dq + qi, e);
                float* p = a.P + row, dP = a.DP + row, dS = a.DS + row;
                float dot = 0;
                for (int j = 0; j <= last; j++)
                {
                    int kv = ((b * T + j) * G + g) * e;
                    float pij = p[j], dpij = TensorPrimitives.Dot(dzi, new ReadOnlySpan<float>(a.V + kv, e));
                    dP[j] = dpij;
                    dot += pij * dpij;
                    var dvj = new Span<float>(a.Dv + kv, e);
                    if (pij != 0) TensorPrimitives.MultiplyAdd(dzi, pij, dvj, dvj);
                }
                for (int j = last + 1; j < T; j++) dP[j] = TensorPrimitives.Dot(dzi, new ReadOnlySpan<float>(a.V + ((b * T + j) * G + g) * e, e));
                for (int j = 0; j <= last; j++)
                {
                    int kv = ((b * T + j) * G + g) * e;
                    float ds = p[j] * (dP[j] - dot);
                    dS[j] = ds;
                    if (ds == 0) continue;
                    if (a.Capped != null) ds *= SoftCapBackward.Slope(a.Capped[row + j], a.Softcap);   // through the cap
                    var dkj = new Span<float>(a.Dk + kv, e);
                    TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(a.K + kv, e), ds * a.Scale, dqi, dqi);
                    TensorPrimitives.MultiplyAdd(qrow, ds * a.Scale, dkj, dkj);
                }
            }
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
