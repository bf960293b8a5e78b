using System.Numerics.Tensors;

namespace SharpLens.Kernels;

/// <summary>
/// Causal grouped-query attention over a batch. Query head h reads key/value head h / (H / G).
/// Shapes: q [B, n, H, e] for absolute positions q0 … q0+n−1; keys/values [B, T, G, e]; scores/pattern [B, H, n, T].
/// Each (batch item, head) is independent: large problems (long prompts, big sweep batches) split them across
/// <see cref="KernelOptions.EffectiveThreads"/> threads; every output element is computed the same way either way.
/// </summary>
public static unsafe class Attention
{
    /// <summary>Below this many multiply-adds a call stays on the calling thread.</summary>
    const long ParallelWork = 1L << 20;

    /// <summary>scores[b, h, i, j] = q·k / sqrt(e) for j ≤ q0 + i, −inf above the diagonal.</summary>
    public static void Scores(ReadOnlySpan<float> q, ReadOnlySpan<float> k, int B, int n, int T, int q0, int H, int G, int e, Span<float> scores) =>
        Scores(q, k, B, n, T, q0, H, G, e, scores, 1f / MathF.Sqrt(e));

    /// <summary>scores[b, h, i, j] = q·k · <paramref name="scale"/> for j ≤ q0 + i, −inf above the diagonal (GPT-2's
    /// config can drop the 1/sqrt(e) or divide by the layer number as well: <see cref="Loading.ModelConfig.AttnScale"/>).
    /// With a sliding <paramref name="window"/> W the query at absolute position i = q0 + row sees only the W keys
    /// i − W &lt; j ≤ i (itself included; Hugging Face's <c>kv_idx &gt; q_idx − sliding_window</c>); the others are −inf.
    /// With <paramref name="keyStart"/> (left padding: item b's first real row), a real query row (q0 + i ≥ keyStart[b])
    /// also gets −inf for the pad keys j &lt; keyStart[b]; pad query rows stay plainly causal (finite; nothing reads them).
    /// A <paramref name="softcap"/> c &gt; 0 maps each unmasked score s to c·tanh(s/c) (Gemma 2), after the scale and
    /// before the mask.</summary>
    public static void Scores(ReadOnlySpan<float> q, ReadOnlySpan<float> k, int B, int n, int T, int q0, int H, int G, int e, Span<float> scores, float scale,
        int? window = null, int[]? keyStart = null, float softcap = 0)
    {
        if (window is <= 0) throw new ArgumentOutOfRangeException(nameof(window), "a sliding window holds at least one key");
        float inv = scale;
        int group = H / G;
        fixed (float* pq = q, pk = k, ps = scores)
        {
            nint aq = (nint)pq, ak = (nint)pk, asc = (nint)ps;
            ForEachHead(B, H, (long)n * T * e, bh =>
            {
                int b = bh / H, h = bh % H;
                for (int i = 0; i < n; i++)
                {
                    var qv = new ReadOnlySpan<float>((float*)aq + ((long)(b * n + i) * H + h) * e, e);
                    var row = new Span<float>((float*)asc + ((long)(b * H + h) * n + i) * T, T);
                    int last = q0 + i, first = window is { } w ? Math.Max(0, last - w + 1) : 0;
                    if (keyStart != null && last >= keyStart[b]) first = Math.Max(first, keyStart[b]);
                    float* kb = (float*)ak + ((long)b * T * G + h / group) * e;
                    row[..first].Fill(float.NegativeInfinity);
                    for (int j = first; j <= last; j++)
                        row[j] = TensorPrimitives.Dot(qv, new ReadOnlySpan<float>(kb + (long)j * G * e, e)) * inv;
                    if (softcap > 0) SoftCap.Apply(row[first..(last + 1)], softcap);
                    row[(last + 1)..].Fill(float.NegativeInfinity);
                }
            });
        }
    }

    /// <summary>Row-wise softmax in place over rows of length T.</summary>
    public static void Pattern(Span<float> scores, int T)
    {
        int rows = scores.Length / T;
        fixed (float* ps = scores)
        {
            nint a = (nint)ps;
            // Rows are independent; split them in blocks of 64.
            int blocks = (rows + 63) / 64;
            ForEach(blocks, (long)rows * T * 8, blk =>
            {
                int r1 = Math.Min(rows, (blk + 1) * 64);
                for (int r = blk * 64; r < r1; r++)
                {
                    var row = new Span<float>((float*)a + (long)r * T, T);
                    Softmax.Row(row, row);
                }
            });
        }
    }

    /// <summary>z[b, i, h, :] = Σ_j pattern[b, h, i, j] · v[b, j, h/group, :].</summary>
    public static void WeightedValues(ReadOnlySpan<float> pattern, ReadOnlySpan<float> v, int B, int n, int T, int H, int G, int e, Span<float> z)
    {
        int group = H / G;
        fixed (float* pp = pattern, pv = v, pz = z)
        {
            nint ap = (nint)pp, av = (nint)pv, az = (nint)pz;
            ForEachHead(B, H, (long)n * T * e, bh =>
            {
                int b = bh / H, h = bh % H;
                float* vb = (float*)av + ((long)b * T * G + h / group) * e;
                for (int i = 0; i < n; i++)
                {
                    var zv = new Span<float>((float*)az + ((long)(b * n + i) * H + h) * e, e);
                    zv.Clear();
                    float* p = (float*)ap + ((long)(b * H + h) * n + i) * T;
                    for (int j = 0; j < T; j++)
                        if (p[j] != 0) TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(vb + (long)j * G * e, e), p[j], zv, zv);
                }
            });
        }
    }

    /// <summary>Naive reference for <c>Scores</c> (same contract; plain loops, double accumulation).</summary>
    public static void ScoresNaive(ReadOnlySpan<float> q, ReadOnlySpan<float> k, int B, int n, int T, int q0, int H, int G, int e, Span<float> scores) =>
        ScoresNaive(q, k, B, n, T, q0, H, G, e, scores, 1 / Math.Sqrt(e));

    /// <summary>Naive reference for the scaled <see cref="Scores(ReadOnlySpan{float}, ReadOnlySpan{float}, int, int, int, int, int, int, int, Span{float}, float)"/>.</summary>
    public static void ScoresNaive(ReadOnlySpan<float> q, ReadOnlySpan<float> k, int B, int n, int T, int q0, int H, int G, int e, Span<float> scores, double scale,
        int? window = null, int[]? keyStart = null, double softcap = 0)
    {
        for (int b = 0; b < B; b++)
            for (int h = 0; h < H; h++)
                for (int i = 0; i < n; i++)
                    for (int j = 0; j < T; j++)
                    {
                        double s = 0;
                        for (int c = 0; c < e; c++)
                            s += (double)q[((b * n + i) * H + h) * e + c] * k[((b * T + j) * G + h / (H / G)) * e + c];
                        s *= scale;
                        if (softcap > 0) s = softcap * Math.Tanh(s / softcap);
                        bool padKey = keyStart != null && q0 + i >= keyStart[b] && j < keyStart[b];
                        bool visible = j <= q0 + i && (window is not { } w || j > q0 + i - w) && !padKey;
                        scores[((b * H + h) * n + i) * T + j] = visible ? (float)s : float.NegativeInfinity;
                    }
    }

    /// <summary>Naive reference for <see cref="WeightedValues"/> (same contract; plain loops, double accumulation).</summary>
    public static void WeightedValuesNaive(ReadOnlySpan<float> pattern, ReadOnlySpan<float> v, int B, int n, int T, int H, int G, int e, Span<float> z)
    {
        for (int b = 0; b < B; b++)
            for (int h = 0; h < H; h++)
                for (int i = 0; i < n; i++)
                    for (int c = 0; c < e; c++)
                    {
                        double s = 0;
                        for (int j = 0; j < T; j++)
                            s += (double)pattern[((b * H + h) * n + i) * T + j] * v[((b * T + j) * G + h / (H / G)) * e + c];
                        z[((b * n + i) * H + h) * e + c] = (float)s;
                    }
    }

    /// <summary>Runs <paramref name="body"/> for every (batch item, head) index b·H + h.</summary>
    static void ForEachHead(int B, int H, long workPerHead, Action<int> body) => ForEach(B * H, workPerHead * B * H, body);

    static void ForEach(int count, long work, Action<int> body)
    {
        int threads = Math.Min(KernelOptions.EffectiveThreads, count);
        if (threads <= 1 || work < ParallelWork)
        {
            for (int i = 0; i < count; i++) body(i);
            return;
        }
        KernelThreads.For(count, threads, body);
    }
}
