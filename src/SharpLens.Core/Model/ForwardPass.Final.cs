using SharpLens.Diagnostics;
using SharpLens.Kernels;

namespace SharpLens.Model;

/// <summary>
/// The parts of the forward pass shared by <see cref="Block"/> and <see cref="FinalBlock"/>: gathering keys and values,
/// and the last block computed for the final rows only.
/// </summary>
internal sealed partial class ForwardPass
{
    /// <summary>Keys and values of every position of every item into kAll, vAll [B, T, G, e]: the cached prefix, then
    /// the ones just computed (k, v [B, n, G, e]).</summary>
    void GatherKv(int l, Span<float> k, Span<float> v, Span<float> kAll, Span<float> vAll)
    {
        int kvRow = _m.Config.NKvHeads * _m.Config.DHead;
        long t0 = StageTimer.Start();
        for (int b = 0; b < _b; b++)
        {
            if (_q0 > 0)
            {
                var prefix = _o.Prefixes?[b] ?? _o.Prefix ?? throw new InvalidOperationException("QStart > 0 needs a KV prefix");
                prefix.RotK[l].AsSpan(0, _q0 * kvRow).CopyTo(kAll.Slice(b * _t * kvRow));
                prefix.V[l].AsSpan(0, _q0 * kvRow).CopyTo(vAll.Slice(b * _t * kvRow));
            }
            k.Slice(b * _n * kvRow, _n * kvRow).CopyTo(kAll.Slice((b * _t + _q0) * kvRow));
            v.Slice(b * _n * kvRow, _n * kvRow).CopyTo(vAll.Slice((b * _t + _q0) * kvRow));
        }
        StageTimer.Stop(Stage.KvGather, t0);
    }

    /// <summary>
    /// Whether the last block may compute only each item's final row: only final-position logits are read, nothing is
    /// cached, and no hook sits in the last block or at ln_final (sweeps whose interventions are all earlier).
    /// </summary>
    bool FinalRowsSuffice()
    {
        if (_o.Logits != LogitsMode.Last || _o.CacheFilter != null || _n < 2) return false;
        if (_o.Hooks.Has(HookNames.LnFinalScale)) return false;
        foreach (var name in _m.HookNames.Layers[^1].All)
            if (_o.Hooks.Has(name)) return false;
        return true;
    }

    /// <summary>
    /// The last decoder block for the final row of each item: keys and values for every position (the final query
    /// attends to all of them), then query, attention, output projection and MLP for that row alone — about a sixth of
    /// the block's work. Writes the final rows of <paramref name="x"/>; its other rows keep their input values, which
    /// nothing reads afterwards (see <see cref="FinalRowsSuffice"/>).
    /// </summary>
    void FinalBlock(int l, Span<float> x)
    {
        var c = _m.Config; var a = _m.Arena; var w = _m.Weights.Layers[l]; var names = _m.HookNames.Layers[l];
        int d = c.DModel, H = c.NHeads, G = c.NKvHeads, e = c.DHead, f = c.DMlp, rows = _b * _n;

        // Keys and values of every row.
        var h = a.Get(ArenaSlot.Normed, rows * d);                        // [B, n, d]
        Norm(x, w.Ln1, names.Ln1Scale, h);
        var k = a.Get(ArenaSlot.K, rows * G * e);                         // [B, n, G, e]
        var v = a.Get(ArenaSlot.V, rows * G * e);                         // [B, n, G, e]
        long t0 = StageTimer.Start();
        Gemm.LinearForward(h, rows, w.Wk, w.Bk, k);
        Gemm.LinearForward(h, rows, w.Wv, w.Bv, v);
        StageTimer.Stop(Stage.QkvProj, t0);

        // The final row of each item: its residual and normed input, then its query.
        var xl = a.Get(ArenaSlot.LastResid, _b * d);                      // [B, d]
        var hl = a.Get(ArenaSlot.LastNormed, _b * d);                     // [B, d]
        for (int b = 0; b < _b; b++)
        {
            x.Slice(((b + 1) * _n - 1) * d, d).CopyTo(xl.Slice(b * d, d));
            h.Slice(((b + 1) * _n - 1) * d, d).CopyTo(hl.Slice(b * d, d));
        }
        var q = a.Get(ArenaSlot.Q, _b * H * e);                           // [B, 1, H, e]
        t0 = StageTimer.Start();
        Gemm.LinearForward(hl, _b, w.Wq, w.Bq, q);
        StageTimer.Stop(Stage.QkvProj, t0);

        t0 = StageTimer.Start();
        for (int b = 0; b < _b; b++) _m.Rotary.Apply(q.Slice(b * H * e, H * e), _t - 1);
        for (int r = 0; r < rows; r++) _m.Rotary.Apply(k.Slice(r * G * e, G * e), _q0 + r % _n);
        StageTimer.Stop(Stage.Rotary, t0);
        var kAll = a.Get(ArenaSlot.KAll, _b * _t * G * e);                // [B, T, G, e]
        var vAll = a.Get(ArenaSlot.VAll, _b * _t * G * e);                // [B, T, G, e]
        GatherKv(l, k, v, kAll, vAll);

        // Attention of the final query over every key, output projection, residual.
        var scores = a.Get(ArenaSlot.Scores, _b * H * _t);                // [B, H, 1, T]
        var z = a.Get(ArenaSlot.Z, _b * H * e);                           // [B, 1, H, e]
        t0 = StageTimer.Start();
        Attention.Scores(q, kAll, _b, 1, _t, _t - 1, H, G, e, scores);
        Attention.Pattern(scores, _t);
        Attention.WeightedValues(scores, vAll, _b, 1, _t, H, G, e, z);
        StageTimer.Stop(Stage.Attention, t0);
        var attnOut = a.Get(ArenaSlot.AttnOut, _b * d);                   // [B, d]
        t0 = StageTimer.Start();
        Gemm.LinearForward(z, _b, w.Wo, default, attnOut);
        StageTimer.Stop(Stage.OProj, t0);
        System.Numerics.Tensors.TensorPrimitives.Add(xl, attnOut, xl);

        // MLP of the final rows (Norm's hook point is inert here: no hook or cache, see FinalRowsSuffice).
        Norm(xl, w.Ln2, names.Ln2Scale, hl);
        var gate = a.Get(ArenaSlot.Gate, _b * f);                         // [B, f]
        var up = a.Get(ArenaSlot.Up, _b * f);                             // [B, f]
        var post = a.Get(ArenaSlot.Post, _b * f);                         // [B, f]
        t0 = StageTimer.Start();
        Gemm.LinearForward(hl, _b, w.WGate, default, gate);
        Gemm.LinearForward(hl, _b, w.WUp, default, up);
        StageTimer.Stop(Stage.GateUpProj, t0);
        SwiGlu.Apply(gate, up, post, post);
        var mlpOut = a.Get(ArenaSlot.MlpOut, _b * d);                     // [B, d]
        t0 = StageTimer.Start();
        Gemm.LinearForward(post, _b, w.WDown, default, mlpOut);
        StageTimer.Stop(Stage.DownProj, t0);
        System.Numerics.Tensors.TensorPrimitives.Add(xl, mlpOut, xl);
        for (int b = 0; b < _b; b++) xl.Slice(b * d, d).CopyTo(x.Slice(((b + 1) * _n - 1) * d, d));
    }
}
