using System.Numerics.Tensors;
using SharpLens.Diagnostics;
using SharpLens.Kernels;

namespace SharpLens.Model;

/// <summary>
/// One forward pass of a Qwen2/Llama decoder, top to bottom, with a hook point after every stage.
/// B = batch, n = positions computed (T − QStart), T = total positions, d = d_model, H = n_heads,
/// G = n_kv_heads, e = d_head, f = d_mlp, V = vocab. Every buffer lives in the model's arena.
/// </summary>
internal sealed partial class ForwardPass
{
    readonly HookedTransformer _m;
    readonly RunOptions _o;
    readonly ActivationCache _cache = new();
    readonly int _b, _n, _t, _q0;

    public ForwardPass(HookedTransformer model, int batch, int totalPositions, RunOptions options)
    {
        _m = model; _o = options; _b = batch; _t = totalPositions; _q0 = options.QStart; _n = _t - _q0;
    }

    bool Wanted(string name) => _o.Hooks.Has(name) || (_o.CacheFilter?.Invoke(name) ?? false);

    /// <summary>Runs the hooks of <paramref name="name"/> (per batch item, or on the whole batch), then caches it if asked.</summary>
    void Point(string name, Span<float> buf, params int[] shape)
    {
        long t0 = StageTimer.Start();
        if (_o.Hooks.Has(name)) _o.Hooks.Fire(name, buf, _b, shape, _q0);
        if (_o.CacheFilter?.Invoke(name) ?? false)
            _cache.Set(name, new Tensor(buf.ToArray(), [_b, .. shape]));
        StageTimer.Stop(Stage.Hooks, t0);
    }

    public RunResult Run(int[][] tokens)
    {
        var c = _m.Config; var a = _m.Arena;
        int d = c.DModel, rows = _b * _n;
        var x = a.Get(ArenaSlot.Resid, rows * d);                         // [B, n, d]

        // Step 1: token embedding, or the supplied residual stream when resuming at a later layer.
        if (_o.StartResidual is { } start)
        {
            if (start.Length != rows * d) throw new ArgumentException($"start residual has {start.Length} floats, expected [{_b}, {_n}, {d}]");
            start.Data.CopyTo(x);
        }
        else
        {
            long t0 = StageTimer.Start();
            for (int b = 0; b < _b; b++)
                for (int i = 0; i < _n; i++)
                    _m.Weights.Embed.ReadRow(tokens[b][_q0 + i], x.Slice((b * _n + i) * d, d));
            StageTimer.Stop(Stage.Embed, t0);
            Point(HookNames.Embed, x, _n, d);
        }

        // Step 2: the decoder blocks (the last one for the final rows only when nothing else is read).
        bool lastRowsOnly = FinalRowsSuffice();
        for (int l = _o.StartLayer; l < c.NLayers; l++)
        {
            _o.Cancellation.ThrowIfCancellationRequested();
            if (lastRowsOnly && l == c.NLayers - 1) FinalBlock(l, x);
            else Block(l, x);
        }

        // Step 3: final RMSNorm and unembedding (only the rows the caller reads).
        var h = a.Get(ArenaSlot.Normed, rows * d);                        // [B, n, d]
        Norm(x, _m.Weights.LnFinal, HookNames.LnFinalScale, h);
        Tensor? logits = null;
        if (_o.Logits != LogitsMode.None)
        {
            int outPos = _o.Logits == LogitsMode.Last ? 1 : _n;
            var src = h;
            if (_o.Logits == LogitsMode.Last)
            {
                src = a.Get(ArenaSlot.Gather, _b * d);                    // [B, d]: each item's final position
                for (int b = 0; b < _b; b++) h.Slice(((b + 1) * _n - 1) * d, d).CopyTo(src.Slice(b * d, d));
            }
            long t0 = StageTimer.Start();
            var unembed = _o.LogitTokens is { } sel ? _m.UnembedRows(sel) : _m.Weights.Unembed;
            logits = LogitsTensor(_b, outPos, unembed.Rows);               // [B, outPos, V or |LogitTokens|]
            Gemm.LinearForward(src[..(_b * outPos * d)], _b * outPos, unembed, default, logits.Data);
            StageTimer.Stop(Stage.LmHead, t0);
        }
        return new RunResult(logits, _cache);
    }

    /// <summary>The logits' destination: <see cref="RunOptions.LogitsInto"/> when given (its shape was checked by
    /// <see cref="HookedTransformer.Forward"/>), else a new tensor.</summary>
    Tensor LogitsTensor(params int[] shape) => _o.LogitsInto ?? Tensor.Zeros(shape);

    /// <summary>RMSNorm of every row of x into y, with hook_scale [n, 1] fired between scale and multiply.</summary>
    void Norm(Span<float> x, float[] w, string scaleHook, Span<float> y)
    {
        int d = w.Length, rows = x.Length / d;
        var scale = _m.Arena.Get(ArenaSlot.Scale, rows);                  // [B, n, 1]
        long t0 = StageTimer.Start();
        for (int r = 0; r < rows; r++) scale[r] = RmsNorm.Scale(x.Slice(r * d, d), _m.Config.RmsNormEps);
        StageTimer.Stop(Stage.Norm, t0);
        Point(scaleHook, scale, _n, 1);
        t0 = StageTimer.Start();
        for (int r = 0; r < rows; r++) RmsNorm.Apply(x.Slice(r * d, d), scale[r], w, y.Slice(r * d, d));
        StageTimer.Stop(Stage.Norm, t0);
    }

    void Block(int l, Span<float> x)
    {
        var c = _m.Config; var a = _m.Arena; var w = _m.Weights.Layers[l]; var names = _m.HookNames.Layers[l];
        int d = c.DModel, H = c.NHeads, G = c.NKvHeads, e = c.DHead, f = c.DMlp, rows = _b * _n;
        Point(names.ResidPre, x, _n, d);

        // Step 2a: attention input norm and q/k/v projections.
        var h = a.Get(ArenaSlot.Normed, rows * d);                        // [B, n, d]
        Norm(x, w.Ln1, names.Ln1Scale, h);
        var q = a.Get(ArenaSlot.Q, rows * H * e);                         // [B, n, H, e]
        var k = a.Get(ArenaSlot.K, rows * G * e);                         // [B, n, G, e]
        var v = a.Get(ArenaSlot.V, rows * G * e);                         // [B, n, G, e]
        long t0 = StageTimer.Start();
        Gemm.LinearForward(h, rows, w.Wq, w.Bq, q);
        Gemm.LinearForward(h, rows, w.Wk, w.Bk, k);
        Gemm.LinearForward(h, rows, w.Wv, w.Bv, v);
        StageTimer.Stop(Stage.QkvProj, t0);
        Point(names.Q, q, _n, H, e);
        Point(names.K, k, _n, G, e);
        Point(names.V, v, _n, G, e);

        // Step 2b: rotary embedding of q and k at their absolute positions.
        t0 = StageTimer.Start();
        for (int r = 0; r < rows; r++)
        {
            int pos = _q0 + r % _n;
            _m.Rotary.Apply(q.Slice(r * H * e, H * e), pos);
            _m.Rotary.Apply(k.Slice(r * G * e, G * e), pos);
        }
        StageTimer.Stop(Stage.Rotary, t0);
        Point(names.RotQ, q, _n, H, e);
        Point(names.RotK, k, _n, G, e);

        // Step 2c: keys and values of every position: the cached prefix, then the ones just computed.
        var kAll = a.Get(ArenaSlot.KAll, _b * _t * G * e);                // [B, T, G, e]
        var vAll = a.Get(ArenaSlot.VAll, _b * _t * G * e);                // [B, T, G, e]
        GatherKv(l, k, v, kAll, vAll);

        // Step 2d: causal attention scores, pattern and pattern-weighted values z.
        var scores = a.Get(ArenaSlot.Scores, _b * H * _n * _t);           // [B, H, n, T]
        var z = a.Get(ArenaSlot.Z, rows * H * e);                         // [B, n, H, e]
        t0 = StageTimer.Start();
        Attention.Scores(q, kAll, _b, _n, _t, _q0, H, G, e, scores);
        StageTimer.Stop(Stage.Attention, t0);
        Point(names.Scores, scores, H, _n, _t);
        t0 = StageTimer.Start();
        Attention.Pattern(scores, _t);                                     // in place: scores → pattern
        StageTimer.Stop(Stage.Attention, t0);
        Point(names.Pattern, scores, H, _n, _t);
        t0 = StageTimer.Start();
        Attention.WeightedValues(scores, vAll, _b, _n, _t, H, G, e, z);
        StageTimer.Stop(Stage.Attention, t0);
        Point(names.Z, z, _n, H, e);

        // Step 2e: output projection, per head when hook_result is wanted.
        var attnOut = a.Get(ArenaSlot.AttnOut, rows * d);                 // [B, n, d]
        if (Wanted(names.Result))
        {
            var result = a.Get(ArenaSlot.Result, rows * H * d);           // [B, n, H, d]
            t0 = StageTimer.Start();
            HeadResults(z, w.Wo, rows, result);
            StageTimer.Stop(Stage.HeadResults, t0);
            Point(names.Result, result, _n, H, d);
            for (int r = 0; r < rows; r++)
            {
                var o = attnOut.Slice(r * d, d);
                o.Clear();
                for (int hh = 0; hh < H; hh++) TensorPrimitives.Add(o, result.Slice((r * H + hh) * d, d), o);
            }
        }
        else
        {
            t0 = StageTimer.Start();
            Gemm.LinearForward(z, rows, w.Wo, default, attnOut);
            StageTimer.Stop(Stage.OProj, t0);
        }
        Point(names.AttnOut, attnOut, _n, d);
        TensorPrimitives.Add(x, attnOut, x);
        Point(names.ResidMid, x, _n, d);

        // Step 2f: MLP: norm, gate and up projections, SwiGLU, down projection.
        Norm(x, w.Ln2, names.Ln2Scale, h);
        var gate = a.Get(ArenaSlot.Gate, rows * f);                       // [B, n, f]
        var up = a.Get(ArenaSlot.Up, rows * f);                           // [B, n, f]
        var post = a.Get(ArenaSlot.Post, rows * f);                       // [B, n, f]
        t0 = StageTimer.Start();
        Gemm.LinearForward(h, rows, w.WGate, default, gate);
        Gemm.LinearForward(h, rows, w.WUp, default, up);
        StageTimer.Stop(Stage.GateUpProj, t0);
        Point(names.MlpPre, gate, _n, f);
        Point(names.MlpPreLinear, up, _n, f);
        t0 = StageTimer.Start();
        SwiGlu.Apply(gate, up, post, post);
        StageTimer.Stop(Stage.SwiGlu, t0);
        Point(names.MlpPost, post, _n, f);
        var mlpOut = a.Get(ArenaSlot.MlpOut, rows * d);                   // [B, n, d]
        t0 = StageTimer.Start();
        Gemm.LinearForward(post, rows, w.WDown, default, mlpOut);
        StageTimer.Stop(Stage.DownProj, t0);
        Point(names.MlpOut, mlpOut, _n, d);
        TensorPrimitives.Add(x, mlpOut, x);
        Point(names.ResidPost, x, _n, d);
    }

    /// <summary>result[r, h, :] = W_O[:, h·e:(h+1)·e] · z[r, h, :] for every row r and head h.</summary>
    void HeadResults(Span<float> z, Loading.WeightMatrix wo, int rows, Span<float> result)
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
}
