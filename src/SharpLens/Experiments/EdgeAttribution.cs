using System.Numerics.Tensors;
using SharpLens.Kernels;
using SharpLens.Loading;
using SharpLens.Model;

namespace SharpLens.Experiments;

/// <summary>
/// Edge attribution patching (EAP, Syed et al. 2023) on the <see cref="EdgeGraph"/>: the effect of patching one edge
/// (sender → receiver input) from the clean run into the corrupted run, linearised around the corrupted run:
/// <c>eap(s → r) = Σ_{pos, d_model} (out_s,clean − out_s,corrupted) · ∂logit_diff/∂in_r |corrupted</c>,
/// in logit-difference units. <c>in_r</c> is the receiver's own copy of the residual stream (TransformerLens'
/// <c>use_split_qkv_input</c>: <c>hook_q_input</c> [pos, head, d_model], …), so its gradient is the gradient of that
/// head's query (key, value) alone, through its rows of W_Q (W_K, W_V) and through <c>ln1</c> at that input — the norm is
/// differentiated exactly (its scale depends on the input), not frozen, as autograd through TransformerLens' split inputs
/// does. Summed over every receiver a sender feeds, the scores are the sender's node AtP (the stream's gradient at a
/// point is the sum of its readers' input gradients).
/// <para>EAP-IG (Hanna et al. 2024, "inputs"): the gradient is averaged over <c>m</c> runs whose <c>hook_embed</c> is
/// interpolated <c>corrupted + (k/m)(clean − corrupted)</c>, k = 0…m−1 (m = 1 is plain EAP).</para>
/// </summary>
public static class EdgeAttribution
{
    /// <summary>EAP scores of every edge of <paramref name="graph"/> (indexed as <see cref="EdgeGraph.Edges"/>) for one
    /// pair, with the two baselines.</summary>
    /// <param name="igSteps">1: EAP; more: EAP-IG with that many interpolation steps</param>
    public static (double[] Scores, double CleanLogitDiff, double CorruptedLogitDiff) Score(HookedTransformer model, EdgeGraph graph,
        int[] clean, int[] corrupted, int answer, int wrong, int igSteps = 1, CancellationToken ct = default)
    {
        Check(model, clean, corrupted, igSteps);
        var c = model.Config; var names = model.HookNames;
        int T = clean.Length, d = c.DModel;
        var senderHooks = SenderHooks(names);
        // What AddReceiverGrads reads of the corrupted run (norm inputs and scales), asked for by name: a backward that
        // recomputes its blocks (gradient checkpointing) keeps only what it is asked for.
        var receiverInputs = names.Layers.SelectMany(n => new[] { n.ResidPre, n.Ln1Scale, n.ResidMid, n.Ln2Scale })
            .Append(names.Layers[^1].ResidPost).ToHashSet(StringComparer.Ordinal);
        var metric = Metrics.LogitDiff(answer, wrong);
        var (cleanLogits, cleanCache) = model.RunWithCache([clean], senderHooks.Contains);
        double cleanLd = metric(cleanLogits, new float[cleanLogits.Data.Length]);
        ct.ThrowIfCancellationRequested();

        // Receiver-input gradients, averaged over the interpolation steps (one step: the corrupted run itself).
        var grads = new float[graph.Receivers.Count][];
        for (int r = 0; r < grads.Length; r++) grads[r] = new float[T * d];
        double corruptedLd = 0;
        float[]? cleanEmbed = null, corruptEmbed = null;
        float[][]? corruptOut = null;
        for (int k = 0; k < igSteps; k++)
        {
            ct.ThrowIfCancellationRequested();
            HookSet? hooks = null;
            if (k > 0)
            {
                float alpha = (float)k / igSteps;
                var (a, b) = (cleanEmbed!, corruptEmbed!);
                hooks = new HookSet().Add(HookNames.Embed, ctx =>
                {
                    for (int i = 0; i < ctx.Data.Length; i++) ctx.Data[i] = b[i] + alpha * (a[i] - b[i]);
                });
            }
            using var g = model.Backward(corrupted, metric, GradHooks(names, c.Design).Contains, cacheFilter: n => senderHooks.Contains(n) || receiverInputs.Contains(n), hooks: hooks);
            if (k == 0)
            {
                corruptedLd = g.Metric;
                corruptOut = SenderOutputs(graph, names, g.Activations, T, d);
                cleanEmbed = cleanCache[HookNames.Embed].Data; corruptEmbed = (float[])g.Activations[HookNames.Embed].Data.Clone();   // g's arrays go back to the pool
            }
            AddReceiverGrads(model, graph, g, grads, 1f / igSteps);
        }

        var cleanOut = SenderOutputs(graph, names, cleanCache, T, d);
        var diff = new float[graph.Senders.Count][];
        for (int s = 0; s < diff.Length; s++)
        {
            diff[s] = new float[T * d];
            TensorPrimitives.Subtract(cleanOut[s], corruptOut![s], diff[s]);
        }
        var scores = new double[graph.Edges.Count];
        for (int e = 0; e < scores.Length; e++)
        {
            var (s, r) = graph.Edges[e];
            scores[e] = TensorPrimitives.Dot(diff[s], grads[r]);
        }
        return (scores, cleanLd, corruptedLd);
    }

    internal static void Check(HookedTransformer model, int[] clean, int[] corrupted, int igSteps)
    {
        if (clean.Length != corrupted.Length)
            throw SharpLensException.Input($"clean and corrupted prompts have {clean.Length} and {corrupted.Length} tokens; edge attribution patching needs equal lengths");
        if (igSteps < 1) throw SharpLensException.Usage($"the number of integrated-gradient steps must be at least 1, not {igSteps}");
        if (model.Config.Design.PostNorms)
            throw SharpLensException.Input("edge attribution patching needs components that add their outputs to the residual stream; Gemma 2's post-norms (ln1_post, ln2_post) normalise the sum of the heads first, so its edges are not defined here");
    }

    /// <summary>The hooks whose values are the senders' outputs.</summary>
    internal static HashSet<string> SenderHooks(HookNames names) =>
        new([HookNames.Embed, .. names.Layers.SelectMany(n => new[] { n.Result, n.MlpOut })], StringComparer.Ordinal);

    static HashSet<string> GradHooks(HookNames names, BlockDesign design) =>
        new([names.Layers[^1].ResidPost, .. names.Layers.SelectMany(n => new[] { n.Q, n.K, n.V, n.Ln2Normalized })], StringComparer.Ordinal);

    /// <summary>Each sender's output [T, d] from a run's cache (<c>hook_embed</c>, a head's slice of <c>hook_result</c>,
    /// <c>hook_mlp_out</c>). Learned position embeddings are the same in both runs and are left out of the input's.</summary>
    internal static float[][] SenderOutputs(EdgeGraph graph, HookNames names, ActivationCache cache, int T, int d)
    {
        var outs = new float[graph.Senders.Count][];
        for (int s = 0; s < outs.Length; s++)
        {
            var n = graph.Senders[s];
            if (n.Kind == NodeKind.Input) outs[s] = cache[HookNames.Embed].Data[..(T * d)];
            else if (n.Kind == NodeKind.Mlp) outs[s] = cache[names.Layers[n.Layer].MlpOut].Data[..(T * d)];
            else outs[s] = HeadSlice(cache[names.Layers[n.Layer].Result].Data, n.Head, graph.Heads, T, d);
        }
        return outs;
    }

    /// <summary>Head h's rows [T, d] of a <c>hook_result</c> [T, H, d].</summary>
    internal static float[] HeadSlice(float[] result, int h, int H, int T, int d)
    {
        var o = new float[T * d];
        for (int p = 0; p < T; p++) result.AsSpan((p * H + h) * d, d).CopyTo(o.AsSpan(p * d, d));
        return o;
    }

    /// <summary>
    /// grads[r] += weight · ∂metric/∂in_r for every receiver: a head's query/key/value input from that head's slice of the
    /// hook_q/k/v gradient through its W rows and ln1 at the block input; an MLP's from the ln2 output's gradient through
    /// ln2 at its input; the logits' is the final residual stream's gradient.
    /// </summary>
    static void AddReceiverGrads(HookedTransformer model, EdgeGraph graph, GradientResult g, float[][] grads, float weight)
    {
        var c = model.Config; int d = c.DModel, e = c.DHead, H = c.NHeads, G = c.NKvHeads;
        int T = grads[0].Length / d;
        var names = model.HookNames.Layers;
        var norm = NormKernels.For(c.Design.Norm);
        var ones = Enumerable.Repeat(1f, d).ToArray();
        var tmp = new float[2 * d];
        var headGrad = new float[T * e]; var dh = new float[T * d]; var scratch = new float[T * d]; var dx = new float[T * d];

        // dx = ∂/∂x of a norm whose output has gradient dy (weight w; RMSNorm's hook_normalized is before its weight: w = 1).
        void NormBack(float[] x, float[] scale, float[] w, float[] dy)
        {
            Array.Clear(dx);
            for (int p = 0; p < T; p++)
            {
                var xr = x.AsSpan(p * d, d); var dyr = dy.AsSpan(p * d, d); var dxr = dx.AsSpan(p * d, d);
                if (c.Design.Norm == NormKind.RmsNorm) NormBackward.Rms(xr, scale[p], w, dyr, dxr, default, tmp);
                else NormBackward.Layer(xr, scale[p], w, dyr, dxr, default, default, tmp);
            }
        }
        void Add(int r) => TensorPrimitives.MultiplyAdd(dx, weight, grads[r], grads[r]);

        for (int l = 0; l < c.NLayers; l++)
        {
            var n = names[l]; var w = model.Weights.Layers[l];
            var x = g.Activations[n.ResidPre].Data; var s1 = g.Activations[n.Ln1Scale].Data;
            foreach (var (port, hook, count) in new[] { (Port.Q, n.Q, H), (Port.K, n.K, G), (Port.V, n.V, G) })
            {
                var full = g.HookGrads[hook].Data;                       // [T, count, e]
                for (int h = 0; h < count; h++)
                {
                    for (int p = 0; p < T; p++) full.AsSpan((p * count + h) * e, e).CopyTo(headGrad.AsSpan(p * e, e));
                    Array.Clear(dh);
                    var rows = port == Port.Q ? w.QHead(h, e) : port == Port.K ? w.KHead(h, e) : w.VHead(h, e);
                    LinearBackward.InputGrad(headGrad, T, rows, dh, scratch);   // the ln1 output's gradient from this head alone
                    NormBack(x, s1, w.Ln1, dh);
                    Add(graph.ReceiverIndex(port, l, h));
                }
            }
            var mlpIn = g.Activations[graph.Sequential ? n.ResidMid : n.ResidPre].Data;
            NormBack(mlpIn, g.Activations[n.Ln2Scale].Data, norm.HookBeforeWeight ? ones : w.Ln2, g.HookGrads[n.Ln2Normalized].Data);
            Add(graph.ReceiverIndex(Port.Mlp, l, -1));
        }
        var final = g.HookGrads[names[^1].ResidPost].Data;
        TensorPrimitives.MultiplyAdd(final.AsSpan(0, T * d), weight, grads[^1], grads[^1]);
    }
}
