using SharpLens.Kernels;
using SharpLens.Loading;
using SharpLens.Model;

namespace SharpLens.Experiments;

/// <summary>
/// One attribution-patching computation: the clean and corrupted prompts in one batched forward (the weights are read
/// once for both; only the answer and wrong logits at the final position are computed), then the backward of the
/// corrupted logit difference to every node's hook, and the estimates from gradients and activations.
/// T = positions, H = heads, G = key/value heads, e = d_head, d = d_model.
/// </summary>
internal sealed class AtpRun
{
    readonly HookedTransformer _m;
    readonly ModelConfig _c;
    readonly int[] _corrupted;
    readonly int _t;
    readonly HashSet<string> _nodes;
    readonly ActivationCache _clean, _corr;             // [1, …] each
    readonly float[][][]? _dPatternQ;                    // [layer][head] → pattern change [T, T] of that head (QK fix)
    readonly float[][][]? _dPatternK;                    // [layer][kv_head] → pattern change [H/G, T, T] of its heads
    public double CleanLd { get; }
    public double CorruptedLd { get; }
    public IReadOnlyDictionary<string, Tensor> Grads { get; }

    /// <summary>The hooks a run must cache for attribution patching: the nodes and what the backward reads.</summary>
    public static HashSet<string> Needed(HookedTransformer m)
    {
        var s = BackwardPass.SavedNames(m.HookNames, m.Config.Design);
        s.UnionWith(Nodes(m));
        return s;
    }

    static HashSet<string> Nodes(HookedTransformer m) =>
        m.HookNames.Layers.SelectMany(n => new[] { n.ResidPre, n.AttnOut, n.MlpOut, n.Z, n.Q, n.K, n.V, n.Pattern, n.ResidPost })
            .ToHashSet(StringComparer.Ordinal);

    /// <summary>Both prompts in one batched forward (only the answer and wrong logits at the final position), then
    /// <see cref="AtpRun(HookedTransformer, ActivationCache, ActivationCache, double, double, int[], int, int, AtpOptions, CancellationToken)"/>.</summary>
    public static AtpRun Of(HookedTransformer m, int[] clean, int[] corrupted, int answer, int wrong, AtpOptions options, CancellationToken ct)
    {
        var needed = Needed(m);
        var fwd = m.Forward([clean, corrupted], new RunOptions
        {
            CacheFilter = needed.Contains, Logits = LogitsMode.Last, LogitTokens = [answer, wrong], Cancellation = ct,
        });
        var l = fwd.Logits!.Data;                        // [2, 1, 2]: (answer, wrong) of each prompt
        return new AtpRun(m, StudyRuns.Item(fwd.Cache, 0), StudyRuns.Item(fwd.Cache, 1), (double)l[0] - l[1], (double)l[2] - l[3],
            corrupted, answer, wrong, options, ct);
    }

    /// <param name="clean">the clean run's cache ([1, …]) holding every hook of <see cref="Needed"/>; likewise <paramref name="corrupted"/></param>
    public AtpRun(HookedTransformer m, ActivationCache clean, ActivationCache corrupted, double cleanLd, double corruptedLd,
        int[] corruptedTokens, int answer, int wrong, AtpOptions options, CancellationToken ct)
    {
        _m = m; _c = m.Config; _corrupted = corruptedTokens; _t = corruptedTokens.Length;
        _nodes = Nodes(m);
        CleanLd = cleanLd; CorruptedLd = corruptedLd;
        if (!double.IsFinite(CleanLd) || !double.IsFinite(CorruptedLd))
            throw SharpLensException.Checkpoint($"the model's logits are not finite (clean logit diff {CleanLd}, corrupted {CorruptedLd}); check the weights");
        if (CleanLd == CorruptedLd)
            throw SharpLensException.Input($"the clean and corrupted runs have the same logit difference ({CleanLd}): every recovery would be 0/0");
        _clean = clean;
        _corr = corrupted;

        int V = m.Weights.Unembed.Rows;
        var dLogits = new float[_t * V];                  // d logit_diff / d logits: two entries at the final position
        dLogits[(_t - 1) * V + answer] += 1;
        dLogits[(_t - 1) * V + wrong] -= 1;
        ct.ThrowIfCancellationRequested();
        var pass = new BackwardPass(m, _corr, _t, _nodes.Contains, null);
        pass.Run(corruptedTokens, dLogits);
        Grads = pass.Grads;
        if (options.QkFix) (_dPatternQ, _dPatternK) = PatternChanges();
    }

    /// <summary>
    /// The QK fix's recomputed softmax: for each query head h, the layer's pattern with h's (rotated) queries taken from
    /// the clean run at every position, the corrupted keys unchanged; for each key/value head g, the patterns of g's
    /// query heads with g's keys from the clean run. Returned as the change from the corrupted pattern.
    /// </summary>
    (float[][][] Q, float[][][] K) PatternChanges()
    {
        int L = _c.NLayers, H = _c.NHeads, G = _c.NKvHeads, e = _c.DHead, T = _t, group = H / G;
        bool rotary = _c.Design.Positions == PositionKind.Rotary;
        var dq = new float[L][][]; var dk = new float[L][][];
        var scores = new float[H * T * T];
        for (int l = 0; l < L; l++)
        {
            var n = _m.HookNames.Layers[l];
            string qName = rotary ? n.RotQ : n.Q, kName = rotary ? n.RotK : n.K;
            float[] qc = _clean[qName].Data, qr = _corr[qName].Data, kc = _clean[kName].Data, kr = _corr[kName].Data;
            var p = _corr[n.Pattern].Data;                // [H, T, T]
            void Patterns(float[] q, float[] k)
            {
                Attention.Scores(q, k, 1, T, T, 0, H, G, e, scores, _c.AttnScale(l), _c.WindowAt(l), null, (float)(_c.AttnSoftcap ?? 0));
                Attention.Pattern(scores, T);
            }
            float[] Change(int head) => Enumerable.Range(0, T * T).Select(i => scores[head * T * T + i] - p[head * T * T + i]).ToArray();
            dq[l] = new float[H][];
            for (int h = 0; h < H; h++)
            {
                Patterns(Mix(qr, qc, h, H, e), kr);
                dq[l][h] = Change(h);
            }
            dk[l] = new float[G][];
            for (int g = 0; g < G; g++)
            {
                Patterns(qr, Mix(kr, kc, g, G, e));
                dk[l][g] = Enumerable.Range(g * group, group).SelectMany(Change).ToArray();
            }
        }
        return (dq, dk);
    }

    /// <summary>A copy of <paramref name="a"/> [T, n, e] with head <paramref name="head"/> taken from <paramref name="b"/>.</summary>
    static float[] Mix(float[] a, float[] b, int head, int n, int e)
    {
        var r = (float[])a.Clone();
        for (int i = head * e; i < r.Length; i += n * e) Array.Copy(b, i, r, i, e);
        return r;
    }

    /// <summary>
    /// The estimates from one set of hook gradients (a hook without a gradient counts as 0): Σ grad · (clean − corrupted)
    /// over each node's entries, over the logit-diff gap; with the QK fix, q and k from the pattern's gradient and the
    /// recomputed softmax.
    /// </summary>
    public AtpResult Estimate(IReadOnlyDictionary<string, Tensor> grads, int dropped)
    {
        int L = _c.NLayers, H = _c.NHeads, G = _c.NKvHeads, e = _c.DHead, d = _c.DModel, T = _t, group = H / G;
        double gap = CleanLd - CorruptedLd;
        // Σ grad · (clean − corrupted) over `count` entries from `from`, repeated `every` times `stride` apart.
        double Atp(string hook, int from, int count, int stride = 0, int every = 1)
        {
            if (!grads.TryGetValue(hook, out var gt)) return 0;
            var g = gt.Data; var a = _clean[hook].Data; var b = _corr[hook].Data;
            double s = 0;
            for (int r = 0; r < every; r++)
                for (int i = r * stride + from; i < r * stride + from + count; i++) s += (double)g[i] * (a[i] - b[i]);
            return s / gap;
        }
        double Dot(string hook, int from, float[] change)
        {
            if (!grads.TryGetValue(hook, out var gt)) return 0;
            double s = 0;
            for (int i = 0; i < change.Length; i++) s += (double)gt.Data[from + i] * change[i];
            return s / gap;
        }

        var resid = new double[L][]; var attn = new double[L]; var mlp = new double[L];
        var z = new double[L][]; var q = new double[L][]; var k = new double[L][]; var v = new double[L][]; var pat = new double[L][];
        for (int l = 0; l < L; l++)
        {
            var n = _m.HookNames.Layers[l];
            resid[l] = Enumerable.Range(0, T).Select(p => Atp(n.ResidPre, p * d, d)).ToArray();
            attn[l] = Atp(n.AttnOut, 0, T * d);
            mlp[l] = Atp(n.MlpOut, 0, T * d);
            z[l] = Enumerable.Range(0, H).Select(h => Atp(n.Z, h * e, e, H * e, T)).ToArray();
            v[l] = Enumerable.Range(0, G).Select(g => Atp(n.V, g * e, e, G * e, T)).ToArray();
            pat[l] = Enumerable.Range(0, H).Select(h => Atp(n.Pattern, h * T * T, T * T)).ToArray();
            q[l] = _dPatternQ is { } dq
                ? Enumerable.Range(0, H).Select(h => Dot(n.Pattern, h * T * T, dq[l][h])).ToArray()
                : Enumerable.Range(0, H).Select(h => Atp(n.Q, h * e, e, H * e, T)).ToArray();
            k[l] = _dPatternK is { } dk
                ? Enumerable.Range(0, G).Select(g => Dot(n.Pattern, g * group * T * T, dk[l][g])).ToArray()
                : Enumerable.Range(0, G).Select(g => Atp(n.K, g * e, e, G * e, T)).ToArray();
        }
        return new AtpResult(CleanLd, CorruptedLd, resid, attn, mlp, z, q, k, v, pat);
    }

    /// <summary>
    /// GradDrop: for each layer ℓ, the estimates with the gradient through ℓ's residual contribution cut off (ℓ's own
    /// nodes get 0, the layers above keep <paramref name="plain"/>'s gradients), then Σ_ℓ |estimate_ℓ| / (L − 1): a node's
    /// own layer always contributes 0, so this averages over the others.
    /// </summary>
    public AtpResult GradDrop(AtpResult plain)
    {
        int L = _c.NLayers;
        AtpResult? sum = null;
        for (int drop = 0; drop < L; drop++)
        {
            var pass = new BackwardPass(_m, _corr, _t, _nodes.Contains, null);
            pass.RunWithLayerDropped(_corrupted, drop, Grads[_m.HookNames.Layers[drop].ResidPost].Data);
            var merged = new Dictionary<string, Tensor>(pass.Grads, StringComparer.Ordinal);
            foreach (var (name, g) in Grads)
                if (Intervention.LayerOf(name) > drop) merged[name] = g;
            var est = Estimate(merged, drop);
            sum = sum == null ? Map(est, Math.Abs) : Combine(sum, est, (a, b) => a + Math.Abs(b));
        }
        double scale = 1.0 / Math.Max(L - 1, 1);
        return Map(sum!, x => x * scale) with { CleanLogitDiff = plain.CleanLogitDiff, CorruptedLogitDiff = plain.CorruptedLogitDiff };
    }

    static AtpResult Map(AtpResult a, Func<double, double> f) => Combine(a, a, (x, _) => f(x));

    static AtpResult Combine(AtpResult a, AtpResult b, Func<double, double, double> f)
    {
        double[] R(double[] x, double[] y) => x.Zip(y, f).ToArray();
        double[][] G(double[][] x, double[][] y) => x.Zip(y, R).ToArray();
        return new AtpResult(a.CleanLogitDiff, a.CorruptedLogitDiff, G(a.ResidPreRecovery, b.ResidPreRecovery), R(a.AttnOutAllRecovery, b.AttnOutAllRecovery),
            R(a.MlpOutAllRecovery, b.MlpOutAllRecovery), G(a.HeadZAllRecovery, b.HeadZAllRecovery), G(a.HeadQAllRecovery, b.HeadQAllRecovery),
            G(a.HeadKAllRecovery, b.HeadKAllRecovery), G(a.HeadVAllRecovery, b.HeadVAllRecovery), G(a.HeadPatternAllRecovery, b.HeadPatternAllRecovery));
    }
}
