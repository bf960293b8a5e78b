using System.Numerics.Tensors;
using SharpLens.Diagnostics;
using SharpLens.Kernels;
using SharpLens.Loading;

namespace SharpLens.Model;

/// <summary>
/// The decoder block: one code path for every layer of every family. Its choices come from the model's
/// <see cref="BlockDesign"/> (norm, positions, MLP, activation) and from the weights (a bias is added where the family
/// loaded one). The last block may compute its queries, attention output and MLP for each item's final row only
/// (<see cref="FinalRowsSuffice"/>): keys and values still cover every position.
/// </summary>
internal sealed partial class ForwardPass
{
    /// <param name="finalRowsOnly">compute the rows after attention's keys and values for each item's final position only,
    /// writing them back into the final rows of <paramref name="x"/>; its other rows keep their input values, which nothing
    /// reads afterwards (about a sixth of the block's work)</param>
    void Block(int l, Span<float> x, bool finalRowsOnly)
    {
        var c = _m.Config; var a = _m.Arena; var w = _m.Weights.Layers[l]; var names = _m.HookNames.Layers[l];
        int d = c.DModel, H = c.NHeads, G = c.NKvHeads, e = c.DHead, rows = _b * _n;
        // The query rows: every computed position, or each item's final one (absolute position T − 1).
        int nq = finalRowsOnly ? 1 : _n, q0 = finalRowsOnly ? _t - 1 : _q0, qRows = _b * nq;
        Point(names.ResidPre, x, _n, d);

        // Step 2a: attention input norm; keys and values of every row, queries of the query rows.
        var h = a.Get(ArenaSlot.Normed, rows * d);                        // [B, n, d]
        Norm(x, w.Ln1, w.Ln1Bias, names.Ln1Scale, names.Ln1Normalized, h, _n);
        Span<float> xq = x, hq = h;                                       // [B, nq, d]
        if (finalRowsOnly)
        {
            xq = a.Get(ArenaSlot.LastResid, _b * d);
            hq = a.Get(ArenaSlot.LastNormed, _b * d);
            for (int b = 0; b < _b; b++)
            {
                x.Slice(((b + 1) * _n - 1) * d, d).CopyTo(xq.Slice(b * d, d));
                h.Slice(((b + 1) * _n - 1) * d, d).CopyTo(hq.Slice(b * d, d));
            }
        }
        var q = a.Get(ArenaSlot.Q, qRows * H * e);                        // [B, nq, H, e]
        var k = a.Get(ArenaSlot.K, rows * G * e);                         // [B, n, G, e]
        var v = a.Get(ArenaSlot.V, rows * G * e);                         // [B, n, G, e]
        long t0 = StageTimer.Start();
        if (w.QkvInterleaved.Data != 0) FusedQkv(w, h, q, k, v, finalRowsOnly);
        else
        {
            Gemm.LinearForward(hq, qRows, w.Wq, w.Bq, q);
            Gemm.LinearForward(h, rows, w.Wk, w.Bk, k);
            Gemm.LinearForward(h, rows, w.Wv, w.Bv, v);
        }
        StageTimer.Stop(Stage.QkvProj, t0);
        Point(names.Q, q, nq, H, e);
        Point(names.K, k, _n, G, e);
        Point(names.V, v, _n, G, e);
        if (_design.QkNorm)
        {
            // Step 2a': per-head RMSNorm of queries and keys (Qwen3), on the projections hook_q / hook_k may have replaced.
            var rms = NormKernels.For(NormKind.RmsNorm);
            Norm(q, w.QNorm, [], names.QNormScale, names.QNormNormalized, q, nq, rms, H);
            Norm(k, w.KNorm, [], names.KNormScale, names.KNormNormalized, k, _n, rms, G);
        }

        // Step 2b: rotary embedding of q and k at their absolute positions (learned positions entered with the embedding).
        if (_design.Positions == PositionKind.Rotary)
        {
            t0 = StageTimer.Start();
            for (int r = 0; r < qRows; r++) _m.Rotary.Apply(q.Slice(r * H * e, H * e), PositionOf(r / nq, q0 + r % nq));
            for (int r = 0; r < rows; r++) _m.Rotary.Apply(k.Slice(r * G * e, G * e), PositionOf(r / _n, _q0 + r % _n));
            StageTimer.Stop(Stage.Rotary, t0);
            Point(names.RotQ, q, nq, H, e);
            Point(names.RotK, k, _n, G, e);
        }

        // Step 2c: keys and values of every position: the cached prefix, then the ones just computed.
        var kAll = a.Get(ArenaSlot.KAll, _b * _t * G * e);                // [B, T, G, e]
        var vAll = a.Get(ArenaSlot.VAll, _b * _t * G * e);                // [B, T, G, e]
        GatherKv(l, k, v, kAll, vAll);

        // Step 2d: causal (and, where the layer has one, sliding-window) attention scores, left pads masked from each item's keys, pattern and pattern-weighted values z.
        var scores = a.Get(ArenaSlot.Scores, _b * H * nq * _t);           // [B, H, nq, T]
        var z = a.Get(ArenaSlot.Z, qRows * H * e);                        // [B, nq, H, e]
        t0 = StageTimer.Start();
        Attention.Scores(q, kAll, _b, nq, _t, q0, H, G, e, scores, c.AttnScale(l), c.WindowAt(l), _start, (float)(c.AttnSoftcap ?? 0));
        StageTimer.Stop(Stage.Attention, t0);
        Point(names.Scores, scores, H, nq, _t);
        t0 = StageTimer.Start();
        Attention.Pattern(scores, _t);                                     // in place: scores → pattern
        StageTimer.Stop(Stage.Attention, t0);
        Point(names.Pattern, scores, H, nq, _t);
        t0 = StageTimer.Start();
        Attention.WeightedValues(scores, vAll, _b, nq, _t, H, G, e, z);
        StageTimer.Stop(Stage.Attention, t0);
        Point(names.Z, z, nq, H, e);

        // Step 2e: output projection (+ b_O), per head when hook_result is wanted (TransformerLens: without b_O).
        var attnOut = a.Get(ArenaSlot.AttnOut, qRows * d);                // [B, nq, d]
        if (Wanted(names.Result))
        {
            var result = a.Get(ArenaSlot.Result, qRows * H * d);          // [B, nq, H, d]
            t0 = StageTimer.Start();
            HeadResults(z, w.Wo, qRows, result);
            StageTimer.Stop(Stage.HeadResults, t0);
            Point(names.Result, result, nq, H, d);
            for (int r = 0; r < qRows; r++)
            {
                var o = attnOut.Slice(r * d, d);
                if (w.Bo.Length > 0) w.Bo.CopyTo(o); else o.Clear();
                for (int hh = 0; hh < H; hh++) TensorPrimitives.Add(o, result.Slice((r * H + hh) * d, d), o);
            }
        }
        else
        {
            t0 = StageTimer.Start();
            Gemm.LinearForward(z, qRows, w.Wo, w.Bo, attnOut);
            StageTimer.Stop(Stage.OProj, t0);
        }
        if (_design.PostNorms) attnOut = PostNorm(attnOut, w.Ln1Post, names.Ln1PostScale, names.Ln1PostNormalized, nq);
        Point(names.AttnOut, attnOut, nq, d);
        bool parallel = _design.Residual == ResidualKind.Parallel;
        if (!parallel)
        {
            TensorPrimitives.Add(xq, attnOut, xq);
            Point(names.ResidMid, xq, nq, d);
        }

        // Step 2f: MLP: norm (of the block input when parallel), projections, activation, output projection.
        Norm(xq, w.Ln2, w.Ln2Bias, names.Ln2Scale, names.Ln2Normalized, hq, nq);
        var mlpOut = Mlp(w, names, hq, nq);                               // [B, nq, d]
        if (_design.PostNorms) mlpOut = PostNorm(mlpOut, w.Ln2Post, names.Ln2PostScale, names.Ln2PostNormalized, nq);
        Point(names.MlpOut, mlpOut, nq, d);
        if (parallel) TensorPrimitives.Add(xq, attnOut, xq);
        TensorPrimitives.Add(xq, mlpOut, xq);
        Point(names.ResidPost, xq, nq, d);
        if (finalRowsOnly)
            for (int b = 0; b < _b; b++) xq.Slice(b * d, d).CopyTo(x.Slice(((b + 1) * _n - 1) * d, d));
    }

    /// <summary>The MLP of the normed rows hq [B, nq, d]: gated (<c>down(act(gate) ⊙ up)</c>; hook_pre is the gate,
    /// hook_pre_linear the up projection) or plain (<c>down(act(up))</c>, with GPT-2's <c>c_fc</c> as "up"). Returns
    /// hook_mlp_out [B, nq, d], biases included.</summary>
    Span<float> Mlp(LayerWeights w, LayerHookNames names, Span<float> hq, int nq)
    {
        var a = _m.Arena;
        int f = _m.Config.DMlp, d = _m.Config.DModel, qRows = _b * nq;
        var pre = a.Get(ArenaSlot.Gate, qRows * f);                       // [B, nq, f]: gate, or the input projection
        var post = a.Get(ArenaSlot.Post, qRows * f);                      // [B, nq, f]
        long t0 = StageTimer.Start();
        if (_design.Mlp == MlpKind.Gated)
        {
            var up = a.Get(ArenaSlot.Up, qRows * f);                      // [B, nq, f]
            Gemm.LinearForward(hq, qRows, w.WGate, w.BGate, pre);
            Gemm.LinearForward(hq, qRows, w.WUp, w.BUp, up);
            StageTimer.Stop(Stage.GateUpProj, t0);
            Point(names.MlpPre, pre, nq, f);
            Point(names.MlpPreLinear, up, nq, f);
            t0 = StageTimer.Start();
            Activations.ApplyGated(_design.Activation, pre, up, post, post);
        }
        else
        {
            Gemm.LinearForward(hq, qRows, w.WUp, w.BUp, pre);
            StageTimer.Stop(Stage.GateUpProj, t0);
            Point(names.MlpPre, pre, nq, f);
            t0 = StageTimer.Start();
            Activations.Apply(_design.Activation, pre, post);
        }
        StageTimer.Stop(Stage.SwiGlu, t0);
        Point(names.MlpPost, post, nq, f);
        var mlpOut = a.Get(ArenaSlot.MlpOut, qRows * d);                  // [B, nq, d]
        t0 = StageTimer.Start();
        Gemm.LinearForward(post, qRows, w.WDown, w.BDown, mlpOut);
        StageTimer.Stop(Stage.DownProj, t0);
        return mlpOut;
    }

    /// <summary>q, k, v from one GEMM over a fused q/k/v matrix read as stored (GPT-NeoX's per-head [H, 3, e] rows): qkv
    /// [B, n, H, 3, e], then each head's three slices into q [B, nq, H, e] (the query rows only), k and v [B, n, H, e].</summary>
    void FusedQkv(LayerWeights w, Span<float> h, Span<float> q, Span<float> k, Span<float> v, bool finalRowsOnly)
    {
        var c = _m.Config; int H = c.NHeads, e = c.DHead, rows = _b * _n;
        var qkv = _m.Arena.Get(ArenaSlot.Qkv, rows * 3 * H * e);           // [B, n, H, 3, e]
        Gemm.LinearForward(h, rows, w.QkvInterleaved, w.BQkvInterleaved, qkv);
        for (int r = 0; r < rows; r++)
        {
            bool queryRow = !finalRowsOnly || r % _n == _n - 1;
            int qr = finalRowsOnly ? r / _n : r;
            for (int hh = 0; hh < H; hh++)
            {
                var src = qkv.Slice((r * H + hh) * 3 * e, 3 * e);
                if (queryRow) src[..e].CopyTo(q.Slice((qr * H + hh) * e, e));
                src.Slice(e, e).CopyTo(k.Slice((r * H + hh) * e, e));
                src.Slice(2 * e, e).CopyTo(v.Slice((r * H + hh) * e, e));
            }
        }
    }

    /// <summary>A sublayer's output [B, nq, d] through its post-norm (Gemma 2's <c>ln1_post</c>, <c>ln2_post</c>): what the
    /// residual stream then adds, and what <c>hook_attn_out</c>/<c>hook_mlp_out</c> show.</summary>
    Span<float> PostNorm(Span<float> output, float[] w, string scaleHook, string normalizedHook, int nq)
    {
        var y = _m.Arena.Get(ArenaSlot.PostNormed, output.Length);        // [B, nq, d]
        Norm(output, w, [], scaleHook, normalizedHook, y, nq);
        return y;
    }

    /// <summary>result[r, h, :] = W_O[:, h·e:(h+1)·e] · z[r, h, :] for every row r and head h.</summary>
    void HeadResults(Span<float> z, WeightMatrix wo, int rows, Span<float> result)
    {
        var c = _m.Config; int H = c.NHeads, e = c.DHead, d = c.DModel;
        var zh = _m.Arena.Get(ArenaSlot.HeadIn, rows * e);                // [rows, e]
        var rh = _m.Arena.Get(ArenaSlot.HeadOut, rows * d);               // [rows, d]
        for (int hh = 0; hh < H; hh++)
        {
            for (int r = 0; r < rows; r++) z.Slice((r * H + hh) * e, e).CopyTo(zh.Slice(r * e, e));
            Gemm.LinearForward(zh, rows, wo.ColSlice(hh * e, e), default, rh);
            for (int r = 0; r < rows; r++) rh.Slice(r * d, d).CopyTo(result.Slice((r * H + hh) * d, d));
        }
    }

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
        if (_o.Logits != LogitsMode.Last || _o.CacheFilter != null || _n < 2 || _stop < _m.Config.NLayers) return false;
        if (_batch.IsPadded && _batch.Side == PaddingSide.Right) return false;   // the final rows are not the last tokens
        if (_o.Hooks.Has(HookNames.LnFinalScale) || _o.Hooks.Has(HookNames.LnFinalNormalized)) return false;
        foreach (var name in _m.HookNames.Layers[^1].All)
            if (_o.Hooks.Has(name)) return false;
        return true;
    }
}
