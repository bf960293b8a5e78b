using System.Numerics.Tensors;
using SharpLens.Diagnostics;
using SharpLens.Kernels;
using SharpLens.Loading;

namespace SharpLens.Model;

/// <summary>
/// Reverse-mode gradients of one prompt, llm.c style: the forward pass runs with the activations backward needs cached
/// (only when a gradient is asked for), then this walks the model from the logits down — unembedding, final norm, each
/// block's MLP (and its post-norm), second norm, output projection (and its post-norm), attention (through a score
/// soft-cap), rotary, q/k norms, QKV projections, first norm — to the embedding.
/// dx is the residual stream's gradient [T, d]; every hook's gradient is the gradient at that point of the forward.
/// T = positions, d = d_model, H = n_heads, G = n_kv_heads, e = d_head, f = d_mlp, V = vocab.
/// </summary>
internal sealed partial class BackwardPass
{
    /// <summary>Why the backward pass cannot differentiate this design, or null when it can. Each is a step whose
    /// backward is not written yet, rather than a silently wrong gradient. Every design the loader accepts now has one
    /// (null for all of them); a new design step without a backward adds its refusal here. Sliding windows need nothing:
    /// masked entries of the pattern are 0, so the softmax backward gives them no gradient.</summary>
    public static string? Unsupported(ModelConfig c) => null;

    readonly HookedTransformer _m;
    readonly ModelConfig _c;
    readonly BlockDesign _design;
    /// <summary>The forward activations being read: the whole run's, or (recomputing) the current segment's.</summary>
    ActivationCache _acts;
    readonly Func<string, bool> _want;
    readonly WeightGrads? _wg;
    readonly int _t;
    float[] _scratch = [];
    /// <summary>This pass's working arrays, from the model's pool; <see cref="ReleaseTemporaries"/> gives them back.</summary>
    readonly List<float[]> _temps = [];
    /// <summary>The hook gradients asked for ([1, ...] like the cache), their arrays from the model's pool.</summary>
    public Dictionary<string, Tensor> Grads { get; } = new(StringComparer.Ordinal);

    public BackwardPass(HookedTransformer m, ActivationCache acts, int positions, Func<string, bool> want, WeightGrads? wg)
    {
        _m = m; _c = m.Config; _design = _c.Design; _acts = acts; _want = want; _wg = wg; _t = positions;
    }

    /// <summary>The forward activations backward reads (the forward caches these, and only these unless asked).</summary>
    public static HashSet<string> SavedNames(HookNames names, BlockDesign design)
    {
        var s = new HashSet<string>(StringComparer.Ordinal) { HookNames.LnFinalScale, HookNames.LnFinalNormalized, names.Layers[^1].ResidPost };
        foreach (var n in names.Layers)
        {
            s.UnionWith([n.ResidPre, n.Ln1Scale, n.Ln1Normalized, n.V, n.Pattern, n.Z, n.Ln2Scale, n.Ln2Normalized, n.MlpPre, n.MlpPost]);
            if (design.Residual == ResidualKind.Sequential) s.Add(n.ResidMid);   // the second norm's input (parallel: resid_pre)
            s.UnionWith(design.Positions == PositionKind.Rotary ? [n.RotQ, n.RotK] : [n.Q, n.K]);
            if (design.Mlp == MlpKind.Gated) s.Add(n.MlpPreLinear);
            s.UnionWith(BlockNormSaved(n, design));
        }
        return s;
    }

    /// <summary>About how many floats <see cref="SavedNames"/> hold per block for a prompt of T tokens (an upper bound:
    /// residual-sized and MLP-sized activations, q/k/v and their rotated copies, z, the pattern).</summary>
    public static long SavedFloatsPerBlock(ModelConfig c, long T) =>
        T * (8L * c.DModel + 3L * c.DMlp + 4L * c.NHeads * c.DHead + 3L * c.NKvHeads * c.DHead + 8) + (long)c.NHeads * T * T;

    Span<float> Scratch(long n)
    {
        if (_scratch.Length < n) { _m.Pool.Return(_scratch); _scratch = _m.Pool.Rent((int)n); }
        return _scratch.AsSpan(0, (int)n);
    }

    /// <summary>A working array of this pass (zeroed unless <paramref name="zeroed"/> is false), given back at its end.</summary>
    float[] Temp(int length, bool zeroed = true)
    {
        var a = zeroed ? _m.Pool.RentZeroed(length) : _m.Pool.Rent(length);
        _temps.Add(a);
        return a;
    }

    /// <summary>Gives back the working arrays taken since <paramref name="mark"/> (a count of <c>_temps</c>): each block
    /// gives back its own when it ends, so a pass holds one block's at a time.</summary>
    void ReleaseTemporariesFrom(int mark)
    {
        for (int i = mark; i < _temps.Count; i++) _m.Pool.Return(_temps[i]);
        _temps.RemoveRange(mark, _temps.Count - mark);
    }

    /// <summary>Gives this pass's working arrays back to the model's pool (the end of <see cref="Run"/>).</summary>
    void ReleaseTemporaries()
    {
        ReleaseTemporariesFrom(0);
        foreach (var a in new[] { _dpost, _dgate, _dup, _dh2, _dz, _dP, _dS, _dq, _dk, _dv, _dh1 }) _m.Pool.Return(a);
        _dpost = _dgate = _dup = _dh2 = _dz = _dP = _dS = _dq = _dk = _dv = _dh1 = null;
        _m.Pool.Return(_scratch);
        _scratch = [];
    }

    float[] Act(string name) => _acts[name].Data;

    /// <summary>What a norm hands the projections after it, from its cached <c>hook_normalized</c>: a norm hooked before
    /// its weight (RMSNorm, as TransformerLens hooks it) gets its weight and bias applied here; a LayerNorm's hook is
    /// already its output.</summary>
    float[] NormOutput(string normalizedHook, float[] w, float[] bias)
    {
        var a = Act(normalizedHook);
        if (!NormKernels.For(_design.Norm).HookBeforeWeight) return a;
        int d = w.Length;
        var y = Temp(a.Length, zeroed: false);
        for (int r = 0; r < a.Length / d; r++)
        {
            var yr = y.AsSpan(r * d, d);
            TensorPrimitives.Multiply(a.AsSpan(r * d, d), w, yr);
            if (bias.Length > 0) TensorPrimitives.Add(yr, bias, yr);
        }
        return y;
    }

    /// <summary>Records the gradient of <c>hook_normalized</c> from that of the norm's output: times the weight when the
    /// hook comes before it.</summary>
    void NormalizedGrad(string normalizedHook, float[] dOut, float[] w, int T, int d)
    {
        if (!_want(normalizedHook)) return;
        if (!NormKernels.For(_design.Norm).HookBeforeWeight) { Grad(normalizedHook, dOut, T, d); return; }
        var g = Grad(normalizedHook, [T, d]);
        for (int r = 0; r < T; r++) TensorPrimitives.Multiply(dOut.AsSpan(r * d, d), w, g.AsSpan(r * d, d));
    }

    /// <summary>Records a copy of <paramref name="g"/> as the gradient at hook <paramref name="name"/> when it is asked for.</summary>
    void Grad(string name, ReadOnlySpan<float> g, params int[] shape)
    {
        if (!_want(name)) return;
        long t0 = StageTimer.Start();
        g.CopyTo(Grad(name, shape));
        StageTimer.Stop(Stage.BackwardHookGrads, t0);
    }

    /// <summary>The array that will hold the gradient at hook <paramref name="name"/> (asked for: check first), for the
    /// caller to write every element of.</summary>
    float[] Grad(string name, int[] shape)
    {
        var a = _m.Pool.Rent(shape.Aggregate(1, (x, y) => x * y));
        Grads[name] = new Tensor(a, [1, .. shape]);
        return a;
    }

    /// <summary>dx[T, K] += dy[T, N] · W.</summary>
    void Dx(ReadOnlySpan<float> dy, WeightMatrix w, float[] dx)
    {
        long t0 = StageTimer.Start();
        LinearBackward.InputGrad(dy, _t, w, dx, Scratch((long)_t * w.Cols));
        StageTimer.Stop(Stage.BackwardInputGrad, t0);
    }

    /// <summary>dW[N, K] += dyᵀ · x and db += Σ_rows dy, for dy [T, N] and x [T, K].</summary>
    void Dw(ReadOnlySpan<float> dy, ReadOnlySpan<float> x, int n, int k, float[] dW, float[] db)
    {
        long t0 = StageTimer.Start();
        LinearBackward.WeightGrad(dy, x, _t, n, k, dW, db, Scratch((long)n * (_t + k)));
        StageTimer.Stop(Stage.BackwardWeightGrad, t0);
    }

    /// <summary>Backpropagates dLogits [T, V] to every hook (and to the weights when asked). With
    /// <paramref name="recompute"/>, the blocks' activations are not in the cache: they are recomputed
    /// <paramref name="segment"/> blocks at a time, from the top (<see cref="BlocksBySegment"/>).</summary>
    public void Run(int[] tokens, float[] dLogits, int segment = int.MaxValue, Func<int, int, ActivationCache?>? recompute = null)
    {
        int d = _c.DModel, T = _t, V = dLogits.Length / T;
        var w = _m.Weights;
        float[]? h = _wg != null || _c.FinalSoftcap is not null ? NormOutput(HookNames.LnFinalNormalized, w.LnFinal, w.LnFinalBias) : null;   // [T, d]
        if (_c.FinalSoftcap is { } cap) dLogits = UncappedLogitGrad(dLogits, h!, T, V, (float)cap);   // Gemma 2: c·tanh(logit/c)
        var dh = Temp(T * d);
        long t0 = StageTimer.Start();
        UnembedInputGrad(dLogits, T, V, w.Unembed, dh);
        StageTimer.Stop(Stage.BackwardInputGrad, t0);
        if (_wg != null) Dw(dLogits, h!, V, d, _wg.Unembed, []);
        NormalizedGrad(HookNames.LnFinalNormalized, dh, w.LnFinal, T, d);
        var dx = Temp(T * d);                                              // the residual stream's gradient [T, d]
        NormRows(Act(_m.HookNames.Layers[^1].ResidPost), HookNames.LnFinalScale, w.LnFinal, dh, dx, _wg?.LnFinal, _wg?.LnFinalBias);

        if (recompute == null) for (int l = _c.NLayers - 1; l >= 0; l--) Block(l, dx);
        else BlocksBySegment(dx, segment, recompute);
        Embedding(tokens, dx);
        ReleaseTemporaries();
    }

    /// <summary>
    /// Gradient checkpointing: for each segment of <paramref name="segment"/> blocks, from the top, recompute its forward
    /// (<paramref name="recompute"/>(first, end) returns the cache of blocks [first, end), rerun from the residual stream
    /// the first forward kept at its start, or null when the first forward kept them: the top segment), backpropagate
    /// through it, and give its activations back; so at most one segment's activations are held at a time, for one more
    /// forward of the blocks below the top segment.
    /// </summary>
    void BlocksBySegment(float[] dx, int segment, Func<int, int, ActivationCache?> recompute)
    {
        var whole = _acts;
        for (int end = _c.NLayers; end > 0;)
        {
            int first = (end - 1) / segment * segment;
            using var part = recompute(first, end);                        // null: the first forward kept this segment
            _acts = part ?? whole;
            for (int l = end - 1; l >= first; l--) Block(l, dx);
            end = first;
        }
        _acts = whole;
    }

    /// <summary>
    /// GradDrop's backward (AtP*, Kramár et al. 2024): from <c>blocks.drop.hook_resid_post</c>, whose gradient
    /// <paramref name="dxResidPost"/> a full pass gave, down to the embedding with block <paramref name="drop"/>'s residual
    /// contribution cut off: its hooks get no gradient, <c>blocks.drop.hook_resid_pre</c> gets the skip connection's
    /// alone, and the blocks below run as usual. Blocks above are not recomputed (their gradients do not change).
    /// </summary>
    public void RunWithLayerDropped(int[] tokens, int drop, ReadOnlySpan<float> dxResidPost)
    {
        var dx = Temp(dxResidPost.Length, zeroed: false);
        dxResidPost.CopyTo(dx);
        Grad(_m.HookNames.Layers[drop].ResidPre, dx, _t, _c.DModel);
        for (int l = drop - 1; l >= 0; l--) Block(l, dx);
        Embedding(tokens, dx);
        ReleaseTemporaries();
    }

    void Embedding(int[] tokens, float[] dx)
    {
        int d = _c.DModel, T = _t;
        Grad(HookNames.Embed, dx, T, d);
        if (_design.Positions == PositionKind.LearnedAbsolute) Grad(HookNames.PosEmbed, dx, T, d);
        float scale = _design.ScaleEmbedding ? MathF.Sqrt(d) : 1;          // Gemma: hook_embed = E[t]·sqrt(d_model)
        if (_wg != null)
            for (int i = 0; i < T; i++)
            {
                var row = dx.AsSpan(i * d, d);
                var e = _wg.Embed.AsSpan(tokens[i] * d, d);
                TensorPrimitives.MultiplyAdd(row, scale, e, e);
                if (_wg.PosEmbed.Length > 0) { var p = _wg.PosEmbed.AsSpan(i * d, d); TensorPrimitives.Add(p, row, p); }
            }
    }

    /// <summary>dh += dLogits · W_U; a sparse dLogits (a logit difference: two entries) reads only its vocabulary rows.</summary>
    void UnembedInputGrad(float[] dLogits, int T, int V, WeightMatrix wu, float[] dh)
    {
        int d = _c.DModel, nonzero = 0;
        foreach (float g in dLogits) if (g != 0) nonzero++;
        if (nonzero > 4 * T + 64)
        {
            LinearBackward.InputGrad(dLogits, T, wu, dh, Scratch((long)T * d));
            return;
        }
        var row = new float[d];
        for (int v = 0; v < V; v++)
        {
            bool read = false;
            for (int r = 0; r < T; r++)
            {
                float g = dLogits[r * V + v];
                if (g == 0) continue;
                if (!read) { wu.ReadRow(v, row); read = true; }
                TensorPrimitives.MultiplyAdd(row, g, dh.AsSpan(r * d, d), dh.AsSpan(r * d, d));
            }
        }
    }

    /// <summary>Backward of the model's norm for every row: dx += ∂/∂x, the weight (and bias) gradients when kept, and
    /// the gradient at its <c>hook_scale</c> [T, 1] when asked (the scale a hook could replace, with x held fixed).</summary>
    void NormRows(float[] x, string scaleHook, float[] w, ReadOnlySpan<float> dy, Span<float> dx, float[]? dw, float[]? db)
    {
        long t0 = StageTimer.Start();
        var scale = Act(scaleHook);
        int d = w.Length, rows = x.Length / d;
        bool rms = _design.Norm == NormKind.RmsNorm;
        var dScale = _want(scaleHook) ? Grad(scaleHook, [rows, 1]) : null;
        var tmp = Scratch(2 * d);
        for (int r = 0; r < rows; r++)
        {
            var xr = x.AsSpan(r * d, d); var dyr = dy.Slice(r * d, d); var dxr = dx.Slice(r * d, d);
            if (dScale != null) dScale[r] = NormBackward.ScaleGrad(xr, scale[r], w, dyr, centered: !rms, tmp);
            if (rms) NormBackward.Rms(xr, scale[r], w, dyr, dxr, dw, tmp);
            else NormBackward.Layer(xr, scale[r], w, dyr, dxr, dw, db, tmp);
        }
        StageTimer.Stop(Stage.BackwardElementwise, t0);
    }
}
