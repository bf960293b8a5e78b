using System.Numerics.Tensors;
using SharpLens.Diagnostics;
using SharpLens.Kernels;
using SharpLens.Loading;

namespace SharpLens.Model;

/// <summary>
/// One forward pass of a decoder-only transformer, top to bottom, with a hook point after every stage: embedding (plus
/// learned positions), the blocks (<c>ForwardPass.Block.cs</c>: one code path for every layer and family, its choices
/// the model's <see cref="BlockDesign"/>), the final norm and the unembedding.
/// B = batch, n = positions computed (T − QStart), T = total positions, d = d_model, H = n_heads,
/// G = n_kv_heads, e = d_head, f = d_mlp, V = vocab. Every buffer lives in the model's arena.
/// </summary>
internal sealed partial class ForwardPass
{
    readonly HookedTransformer _m;
    readonly RunOptions _o;
    readonly ActivationCache _cache = new();
    readonly int _b, _n, _t, _q0, _stop;
    readonly BlockDesign _design;
    readonly INormKernel _norm;
    readonly PromptBatch _batch;
    /// <summary>Left pads per item (null when there are none): item b's position p sits on row start[b] + p, its keys
    /// before start[b] are masked, and its rotary or learned positions count from there.</summary>
    readonly int[]? _start;

    /// <param name="stop">the block to stop before (<see cref="RunOptions.StopAtLayer"/>), n_layers for a full run</param>
    public ForwardPass(HookedTransformer model, PromptBatch batch, RunOptions options, int stop)
    {
        _m = model; _o = options; _batch = batch; _b = batch.Count; _t = batch.Width; _q0 = options.QStart; _n = _t - _q0;
        _stop = stop;
        _design = model.Config.Design;
        _norm = NormKernels.For(_design.Norm);
        if (batch.IsPadded && batch.Side == PaddingSide.Left) _start = Enumerable.Range(0, _b).Select(batch.Start).ToArray();
    }

    /// <summary>Item b's own position of absolute row <paramref name="row"/> (pad rows: 0, values nothing reads).</summary>
    int PositionOf(int b, int row) => _start is null ? row : Math.Max(0, row - _start[b]);

    bool Wanted(string name) => _o.Hooks.Has(name) || (_o.CacheFilter?.Invoke(name) ?? false);

    /// <summary>Runs the hooks of <paramref name="name"/> (per batch item, or on the whole batch), then caches it if asked.</summary>
    void Point(string name, Span<float> buf, params int[] shape)
    {
        long t0 = StageTimer.Start();
        if (_o.Hooks.Has(name)) _o.Hooks.Fire(name, buf, _b, shape, _q0);
        if (_o.CacheFilter?.Invoke(name) ?? false)
        {
            var copy = _m.Pool.Rent(buf.Length);                           // uninitialised: every element is written next
            buf.CopyTo(copy);
            _cache.SetOwned(name, new Tensor(copy, [_b, .. shape]), _m.Pool);
        }
        StageTimer.Stop(Stage.Hooks, t0);
    }

    public RunResult Run(int[][] tokens)
    {
        var c = _m.Config; var a = _m.Arena; var w = _m.Weights;
        int d = c.DModel, rows = _b * _n;
        var x = a.Get(ArenaSlot.Resid, rows * d);                         // [B, n, d]

        // Step 1: token embedding (plus learned positions), or the supplied residual stream when resuming at a later layer.
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
                    w.Embed.ReadRow(tokens[b][_q0 + i], x.Slice((b * _n + i) * d, d));
            if (_design.ScaleEmbedding) TensorPrimitives.Multiply(x, MathF.Sqrt(d), x);   // Gemma: E[t]·sqrt(d_model)
            StageTimer.Stop(Stage.Embed, t0);
            Point(HookNames.Embed, x, _n, d);
            if (_design.Positions == PositionKind.LearnedAbsolute)
            {
                if (_t > c.MaxPositions)
                    throw SharpLensException.Input($"the prompt has {_t} tokens, more than the model's {c.MaxPositions} learned positions; shorten it");
                var pos = a.Get(ArenaSlot.PosEmbed, rows * d);            // [B, n, d]: W_pos[QStart + i], each item
                t0 = StageTimer.Start();
                for (int b = 0; b < _b; b++)
                    for (int i = 0; i < _n; i++) w.PosEmbed.ReadRow(PositionOf(b, _q0 + i), pos.Slice((b * _n + i) * d, d));
                StageTimer.Stop(Stage.Embed, t0);
                Point(HookNames.PosEmbed, pos, _n, d);
                TensorPrimitives.Add(x, pos, x);
            }
        }

        // Step 2: the blocks (the last one for the final rows only when nothing else is read), up to the stop layer.
        bool lastRowsOnly = FinalRowsSuffice();
        for (int l = _o.StartLayer; l < _stop; l++)
        {
            _o.Cancellation.ThrowIfCancellationRequested();
            Block(l, x, finalRowsOnly: lastRowsOnly && l == c.NLayers - 1);
        }
        if (_stop < c.NLayers)
            return new RunResult(null, _cache) { Residual = new Tensor(x.ToArray(), _b, _n, d) };   // [B, n, d]

        // Step 3: final norm and unembedding (only the rows the caller reads).
        var h = a.Get(ArenaSlot.Normed, rows * d);                        // [B, n, d]
        Norm(x, w.LnFinal, w.LnFinalBias, HookNames.LnFinalScale, HookNames.LnFinalNormalized, h, _n);
        Tensor? logits = null;
        if (_o.Logits != LogitsMode.None)
        {
            int outPos = _o.Logits == LogitsMode.Last ? 1 : _n;
            var src = h;
            if (_o.Logits == LogitsMode.Last)
            {
                src = a.Get(ArenaSlot.Gather, _b * d);                    // [B, d]: each item's final position
                for (int b = 0; b < _b; b++) h.Slice((b * _n + LastRow(b)) * d, d).CopyTo(src.Slice(b * d, d));
            }
            long t0 = StageTimer.Start();
            var unembed = _o.LogitTokens is { } sel ? _m.UnembedRows(sel) : w.Unembed;
            logits = LogitsTensor(_b, outPos, unembed.Rows);               // [B, outPos, V or |LogitTokens|]
            Gemm.LinearForward(src[..(_b * outPos * d)], _b * outPos, unembed, default, logits.Data);
            if (c.FinalSoftcap is { } cap) SoftCap.Apply(logits.Data, (float)cap);   // Gemma 2: c·tanh(logit/c)
            StageTimer.Stop(Stage.LmHead, t0);
        }
        return new RunResult(logits, _cache);
    }

    /// <summary>Item b's last token's row among the computed rows (the final row unless right padding ends it earlier).</summary>
    int LastRow(int b) => _batch.LastRow(b) - _q0;

    /// <summary>The logits' destination: <see cref="RunOptions.LogitsInto"/> when given (its shape was checked by
    /// <see cref="HookedTransformer.Forward"/>), else a new tensor.</summary>
    Tensor LogitsTensor(params int[] shape) =>
        _o.LogitsInto ?? new Tensor(_m.Pool.Rent(shape.Aggregate(1, (a, b) => checked(a * b))), shape);   // the GEMM writes every element

    /// <summary>The model's norm (RMSNorm, or LayerNorm with bias <paramref name="bias"/>) of every row of x into y, with
    /// hook_scale [pos, 1] fired between scale and apply and hook_normalized [pos, d] after: as TransformerLens has them,
    /// RMSNorm's hook_normalized is <c>x / scale</c> before the weight, LayerNorm's the output (weight and bias applied).
    /// <paramref name="positions"/> = rows per batch item; with <paramref name="heads"/> &gt; 0 each position holds that many
    /// rows (per-head q/k norms: hooks [pos, heads, 1] and [pos, heads, e]).</summary>
    void Norm(Span<float> x, float[] w, float[] bias, string scaleHook, string normalizedHook, Span<float> y, int positions,
        INormKernel? kernel = null, int heads = 0)
    {
        var norm = kernel ?? _norm;
        int d = w.Length, rows = x.Length / d;
        var scale = _m.Arena.Get(ArenaSlot.Scale, rows);                  // [B, pos, 1] or [B, pos, heads, 1]
        long t0 = StageTimer.Start();
        for (int r = 0; r < rows; r++) scale[r] = norm.Scale(x.Slice(r * d, d), _m.Config.RmsNormEps);
        StageTimer.Stop(Stage.Norm, t0);
        if (heads > 0) Point(scaleHook, scale, positions, heads, 1); else Point(scaleHook, scale, positions, 1);
        t0 = StageTimer.Start();
        bool weightAfterHook = norm.HookBeforeWeight;
        for (int r = 0; r < rows; r++)
            if (weightAfterHook) TensorPrimitives.Multiply(x.Slice(r * d, d), 1f / scale[r], y.Slice(r * d, d));
            else norm.Apply(x.Slice(r * d, d), scale[r], w, bias, y.Slice(r * d, d));
        StageTimer.Stop(Stage.Norm, t0);
        if (heads > 0) Point(normalizedHook, y, positions, heads, d); else Point(normalizedHook, y, positions, d);
        if (!weightAfterHook) return;
        t0 = StageTimer.Start();
        for (int r = 0; r < rows; r++)
        {
            var yr = y.Slice(r * d, d);
            TensorPrimitives.Multiply(yr, w, yr);
            if (bias.Length > 0) TensorPrimitives.Add(yr, bias, yr);
        }
        StageTimer.Stop(Stage.Norm, t0);
    }
}
