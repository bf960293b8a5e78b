using System.Numerics.Tensors;
using SharpLens.Kernels;
using SharpLens.Loading;
using SharpLens.Model;

namespace SharpLens.Experiments;

/// <summary>
/// Exact edge-level patching of a circuit (a set of edges of an <see cref="EdgeGraph"/>), as ACDC and EAP evaluate one:
/// the clean prompt runs, and every receiver input reads the residual stream as the sum of its in-edges, each edge in the
/// circuit carrying the sender's output in this run and each edge outside it the sender's output in the corrupted run
/// (biases are the same in both). That is, receiver r reads
/// <c>in_r = resid_corrupted(r) + Σ_{s → r in circuit} (out_s,this run − out_s,corrupted)</c>,
/// and computes from it: a head's query, key or value input goes through ln1 (at that input's own scale) and that head's
/// rows of W_Q, W_K or W_V only; an MLP's through ln2; the logits' through ln_final. With every edge this is the clean
/// run; with none, the corrupted run.
/// </summary>
public static class CircuitPatching
{
    /// <summary>The logit difference (answer − wrong at the final position) of the clean prompt run through only the
    /// <paramref name="circuit"/>'s edges (indices into <see cref="EdgeGraph.Edges"/>).</summary>
    public static double LogitDiff(HookedTransformer model, EdgeGraph graph, IEnumerable<int> circuit, int[] clean, int[] corrupted,
        int answer, int wrong, CancellationToken ct = default)
    {
        EdgeAttribution.Check(model, clean, corrupted, 1);
        var c = model.Config; var names = model.HookNames;
        int T = clean.Length, d = c.DModel, e = c.DHead, H = c.NHeads, L = c.NLayers;
        var senderHooks = EdgeAttribution.SenderHooks(names);
        var readHooks = new HashSet<string>(senderHooks, StringComparer.Ordinal) { names.Layers[^1].ResidPost };
        foreach (var n in names.Layers) readHooks.UnionWith([n.ResidPre, n.Q, n.K, n.V, n.Ln2Normalized, graph.Sequential ? n.ResidMid : n.ResidPre]);
        readHooks.Add(HookNames.LnFinalNormalized);
        var (_, corr) = model.RunWithCache([corrupted], readHooks.Contains);
        ct.ThrowIfCancellationRequested();
        var corrOut = EdgeAttribution.SenderOutputs(graph, names, corr, T, d);

        var inEdges = new List<int>[graph.Receivers.Count];
        for (int r = 0; r < inEdges.Length; r++) inEdges[r] = [];
        foreach (int edge in circuit.Distinct()) inEdges[graph.Edges[edge].Receiver].Add(graph.Edges[edge].Sender);

        var cur = new float[graph.Senders.Count][];                    // this run's sender outputs, as they are computed
        var norm = NormKernels.For(c.Design.Norm);
        double eps = c.RmsNormEps;

        // The receiver's input: the corrupted run's stream there plus the circuit's in-edges' differences; null when it
        // has no circuit in-edge (it then computes exactly what it computed in the corrupted run).
        float[]? Input(int r, float[] corruptedStream)
        {
            if (inEdges[r].Count == 0) return null;
            var x = corruptedStream[..(T * d)];
            foreach (int s in inEdges[r])
            {
                TensorPrimitives.Add(x, cur[s], x);
                TensorPrimitives.Subtract(x, corrOut[s], x);
            }
            return x;
        }
        // y = norm(x) row by row: the full output (weight and bias), or hook_normalized (x / scale for RMSNorm).
        float[] Normed(float[] x, float[] w, float[] b, bool asHook)
        {
            var y = new float[T * d];
            for (int p = 0; p < T; p++)
            {
                var xr = x.AsSpan(p * d, d); var yr = y.AsSpan(p * d, d);
                float s = norm.Scale(xr, eps);
                if (asHook && norm.HookBeforeWeight) TensorPrimitives.Multiply(xr, 1f / s, yr);
                else norm.Apply(xr, s, w, b, yr);
            }
            return y;
        }

        var hooks = new HookSet();
        hooks.Add(HookNames.Embed, ctx => cur[EdgeGraph.InputSender] = ctx.Data[..(T * d)].ToArray());
        for (int l = 0; l < L; l++)
        {
            int layer = l; var n = names.Layers[l]; var w = model.Weights.Layers[l];
            var residPre = corr[n.ResidPre].Data;
            foreach (var (port, hook, count) in new[] { (Port.Q, n.Q, H), (Port.K, n.K, c.NKvHeads), (Port.V, n.V, c.NKvHeads) })
            {
                var corrAct = corr[hook].Data;
                var bias = port == Port.Q ? w.Bq : port == Port.K ? w.Bk : w.Bv;
                hooks.Add(hook, ctx =>
                {
                    corrAct.AsSpan(0, ctx.Data.Length).CopyTo(ctx.Data);    // receivers without circuit in-edges: as corrupted
                    var outRows = new float[T * e];
                    for (int h = 0; h < count; h++)
                    {
                        if (Input(graph.ReceiverIndex(port, layer, h), residPre) is not { } x) continue;
                        var hn = Normed(x, w.Ln1, w.Ln1Bias, asHook: false);
                        var rows = port == Port.Q ? w.QHead(h, e) : port == Port.K ? w.KHead(h, e) : w.VHead(h, e);
                        Gemm.LinearForward(hn, T, rows, bias.Length > 0 ? bias.AsSpan(h * e, e) : default, outRows);
                        for (int p = 0; p < T; p++) outRows.AsSpan(p * e, e).CopyTo(ctx.Data.Slice((p * count + h) * e, e));
                    }
                });
            }
            hooks.Add(n.Result, ctx =>
            {
                var data = ctx.Data[..(T * H * d)].ToArray();
                for (int h = 0; h < H; h++) cur[graph.HeadSender(layer, h)] = EdgeAttribution.HeadSlice(data, h, H, T, d);
            });
            var mlpStream = corr[graph.Sequential ? n.ResidMid : n.ResidPre].Data;
            var corrLn2 = corr[n.Ln2Normalized].Data;
            hooks.Add(n.Ln2Normalized, ctx =>
            {
                if (Input(graph.ReceiverIndex(Port.Mlp, layer, -1), mlpStream) is { } x) Normed(x, w.Ln2, w.Ln2Bias, asHook: true).CopyTo(ctx.Data);
                else corrLn2.AsSpan(0, ctx.Data.Length).CopyTo(ctx.Data);
            });
            hooks.Add(n.MlpOut, ctx => cur[graph.MlpSender(layer)] = ctx.Data[..(T * d)].ToArray());
        }
        var finalStream = corr[names.Layers[^1].ResidPost].Data;
        var corrFinal = corr[HookNames.LnFinalNormalized].Data;
        var weights = model.Weights;
        hooks.Add(HookNames.LnFinalNormalized, ctx =>
        {
            if (Input(graph.ReceiverIndex(Port.Logits, L, -1), finalStream) is { } x) Normed(x, weights.LnFinal, weights.LnFinalBias, asHook: true).CopyTo(ctx.Data);
            else corrFinal.AsSpan(0, ctx.Data.Length).CopyTo(ctx.Data);
        });

        ct.ThrowIfCancellationRequested();
        var run = model.Forward([clean], new RunOptions { Hooks = hooks, Logits = LogitsMode.Last, LogitTokens = [answer, wrong], Cancellation = ct });
        var logits = run.Logits!.Data;                                      // [1, 1, 2]
        return logits[0] - logits[1];
    }
}
