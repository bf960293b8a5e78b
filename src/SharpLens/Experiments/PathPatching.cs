using System.Text.Json.Nodes;
using SharpLens.Kernels;
using SharpLens.Model;

namespace SharpLens.Experiments;

/// <summary>
/// What path patching found for a set of sender heads (EXPERIMENTS.md, "Circuit questions"). Recoveries; receivers that
/// cannot read the senders (q/k/v at or before the earliest sender's layer, MLPs before it) are 0.
/// </summary>
public sealed record PathPatchingResult
{
    /// <summary>The sender heads, patched together.</summary>
    public required IReadOnlyList<(int Layer, int Head)> Senders { get; init; }
    /// <summary>Stage 1's own recovery: the senders' effect through the MLPs and the residual stream, no other head.</summary>
    public required double ToResidFinal { get; init; }
    /// <summary>[layer][head]: a receiver's <c>hook_q</c> taken from stage 1.</summary>
    public required double[][] ToQ { get; init; }
    /// <summary>[layer][kv_head]: a receiver's <c>hook_k</c> taken from stage 1.</summary>
    public required double[][] ToK { get; init; }
    /// <summary>[layer][kv_head]: a receiver's <c>hook_v</c> taken from stage 1.</summary>
    public required double[][] ToV { get; init; }
    /// <summary>[layer]: a layer's <c>hook_mlp_out</c> taken from stage 1.</summary>
    public required double[] ToMlp { get; init; }
    /// <summary>TransformerLens' direct path, [layer][head]: only the senders' result difference added to the receiver's
    /// input, no MLP in between. Null when not computed.</summary>
    public double[][]? DirectToQ { get; init; }
    /// <summary>The direct path into keys, [layer][kv_head].</summary>
    public double[][]? DirectToK { get; init; }
    /// <summary>The direct path into values, [layer][kv_head].</summary>
    public double[][]? DirectToV { get; init; }

    /// <summary>
    /// Writes the path-patching keys of results.json: <c>path_patch_senders</c> ([[layer, head]…]), and for a single
    /// sender <c>path_patch_sender</c> ([layer, head]); <c>path_patch_to_{resid_final,q,k,v,mlp}_recovery</c>; and, when
    /// computed, <c>path_patch_direct_to_{q,k,v}_recovery</c>.
    /// </summary>
    public void WriteTo(JsonObject o)
    {
        if (Senders.Count == 1) o["path_patch_sender"] = Json.Row([Senders[0].Layer, Senders[0].Head]);
        o["path_patch_senders"] = Json.Grid(Senders.Select(s => new[] { s.Layer, s.Head }));
        o["path_patch_to_resid_final_recovery"] = ToResidFinal;
        o["path_patch_to_q_recovery"] = Json.Grid(ToQ);
        o["path_patch_to_k_recovery"] = Json.Grid(ToK);
        o["path_patch_to_v_recovery"] = Json.Grid(ToV);
        o["path_patch_to_mlp_recovery"] = Json.Row(ToMlp);
        if (DirectToQ is null || DirectToK is null || DirectToV is null) return;
        o["path_patch_direct_to_q_recovery"] = Json.Grid(DirectToQ);
        o["path_patch_direct_to_k_recovery"] = Json.Grid(DirectToK);
        o["path_patch_direct_to_v_recovery"] = Json.Grid(DirectToV);
    }
}

/// <summary>
/// Path patching (Wang et al. 2022) of one or more sender heads into every later head's query, key and value and every
/// MLP, on the study's base runs:
/// <list type="number">
/// <item>stage 1: the corrupted prompt with every head's <c>attn.hook_z</c> frozen to its corrupted value except the
/// senders', taken from the clean run; MLPs and norms are recomputed (one run, from the earliest sender's layer);</item>
/// <item>stage 2: one plain corrupted run per receiver with its q, k or v slice, or a layer's MLP output, taken from
/// stage 1 — a <see cref="PatchSweep"/> whose items start at the receiver's layer and at the first differing position.</item>
/// </list>
/// The direct variant (TransformerLens' path patching to <c>hook_q_input</c>, …) adds the senders' clean − corrupted
/// <c>hook_result</c> to the receiver's input residual, computes that receiver's q, k or v from it, and patches it in the
/// same way.
/// </summary>
public sealed class PathPatching(StudyRuns runs, Action<string, int, int>? progress = null, CancellationToken ct = default)
{
    readonly HookNames _names = runs.Model.HookNames;
    Loading.ModelConfig C => runs.Model.Config;

    /// <summary>The default sender (EXPERIMENTS.md): the head with the largest <c>head_z_patch_last_recovery</c> among
    /// layers 0…n_layers − 2 (a head in the last layer has no later receivers).</summary>
    public static (int Layer, int Head) DefaultSender(double[][] headZPatchLastRecovery)
    {
        int layers = Math.Max(1, headZPatchLastRecovery.Length - 1);
        return headZPatchLastRecovery.Take(layers).SelectMany((row, l) => row.Select((v, h) => (l, h, v)))
            .MaxBy(x => x.v) is var (l, h, _) ? (l, h) : (0, 0);
    }

    /// <summary>Checks sender heads against the model: a usage error naming the valid range.</summary>
    public static void ValidateSenders(Loading.ModelConfig c, IReadOnlyList<(int Layer, int Head)> senders)
    {
        if (senders.Count == 0) throw SharpLensException.Usage("path patching needs at least one sender head", nameof(senders));
        foreach (var (l, h) in senders)
            if (l < 0 || l >= c.NLayers || h < 0 || h >= c.NHeads)
                throw SharpLensException.Usage($"sender {l}.{h} is out of range: the model has layers 0–{c.NLayers - 1} and heads 0–{c.NHeads - 1} per layer",
                    nameof(senders));
        if (senders.Distinct().Count() != senders.Count) throw SharpLensException.Usage("a sender head is named twice", nameof(senders));
    }

    /// <summary>Runs both stages for <paramref name="senders"/> (patched together) and, when <paramref name="direct"/>,
    /// the direct-path variant.</summary>
    public PathPatchingResult Run(IReadOnlyList<(int Layer, int Head)> senders, bool direct = true)
    {
        ValidateSenders(C, senders);
        int L = C.NLayers, H = C.NHeads, G = C.NKvHeads, first = senders.Min(s => s.Layer);
        var (toResid, stage1) = Stage1(senders);

        // Stage 2: receivers' q, k, v (layers after the earliest sender) and MLP outputs (from its layer on).
        var specs = new List<(string Hook, int Head)>();
        for (int l = first + 1; l < L; l++)
        {
            for (int h = 0; h < H; h++) specs.Add((_names.Layers[l].Q, h));
            for (int g = 0; g < G; g++) specs.Add((_names.Layers[l].K, g));
            for (int g = 0; g < G; g++) specs.Add((_names.Layers[l].V, g));
        }
        int qkvCount = specs.Count;
        for (int l = first; l < L; l++) specs.Add((_names.Layers[l].MlpOut, -1));
        var exact = Stage2("path patching (receivers)", specs, stage1);

        double[]? directValues = null;
        if (direct)
        {
            var directSources = DirectSources(senders);
            directValues = Stage2("path patching, direct path (receivers)", specs.Take(qkvCount).ToList(), directSources);
        }

        // Unpack into [layer][head] grids, 0 where a receiver cannot read the senders.
        double[][] Grid(int n) => Enumerable.Range(0, L).Select(_ => new double[n]).ToArray();
        var q = Grid(H); var k = Grid(G); var v = Grid(G); var mlp = new double[L];
        double[][]? dq = direct ? Grid(H) : null, dk = direct ? Grid(G) : null, dv = direct ? Grid(G) : null;
        int i = 0;
        for (int l = first + 1; l < L; l++)
        {
            for (int h = 0; h < H; h++, i++) { q[l][h] = exact[i]; if (dq != null) dq[l][h] = directValues![i]; }
            for (int g = 0; g < G; g++, i++) { k[l][g] = exact[i]; if (dk != null) dk[l][g] = directValues![i]; }
            for (int g = 0; g < G; g++, i++) { v[l][g] = exact[i]; if (dv != null) dv[l][g] = directValues![i]; }
        }
        for (int l = first; l < L; l++, i++) mlp[l] = exact[i];
        return new PathPatchingResult
        {
            Senders = senders.ToList(), ToResidFinal = toResid, ToQ = q, ToK = k, ToV = v, ToMlp = mlp,
            DirectToQ = dq, DirectToK = dk, DirectToV = dv,
        };
    }

    /// <summary>
    /// The stage-1 run: corrupted prompt, every head's z frozen to the corrupted run's except the senders' (clean).
    /// It starts at the earliest sender's layer from the corrupted run's residual stream and computes only the positions
    /// from the first differing one (before it the clean and corrupted runs, and so the frozen one, are identical).
    /// Returns its recovery and, per hook name, its q / k / v / MLP output as [T, …] arrays (rows before that position
    /// are left 0: the patches never read them).
    /// </summary>
    (double Recovery, Dictionary<string, float[]> Activations) Stage1(IReadOnlyList<(int Layer, int Head)> senders)
    {
        const string phase = "path patching stage 1 (senders only)";
        progress?.Invoke(phase, 0, 1);
        int T = runs.Tokens.Length, d = C.DModel, e = C.DHead, q0 = Math.Min(runs.FirstDifference, T - 1), n = T - q0;
        int first = senders.Min(s => s.Layer);
        var hooks = new HookSet();
        for (int l = first; l < C.NLayers; l++)
        {
            var clean = runs.Clean[_names.Layers[l].Z].Data; var corrupted = runs.Corrupted[_names.Layers[l].Z].Data;
            int[] own = senders.Where(s => s.Layer == l).Select(s => s.Head).ToArray();
            hooks.Add(_names.Layers[l].Z, ctx =>
            {
                int off = ctx.PosOffset, H = ctx.Shape[1];
                corrupted.AsSpan(off * H * e, ctx.Data.Length).CopyTo(ctx.Data);
                for (int p = off; p < T; p++)
                    foreach (int h in own) clean.AsSpan((p * H + h) * e, e).CopyTo(ctx.Data.Slice(((p - off) * H + h) * e, e));
            });
        }
        var start = Tensor.Zeros(1, n, d);
        runs.Corrupted[_names.Layers[first].ResidPre].Slice(0).Slice(q0 * d, n * d).CopyTo(start.Slice(0));
        var wanted = new HashSet<string>(_names.Layers.Skip(first).SelectMany(x => new[] { x.Q, x.K, x.V, x.MlpOut }));
        var r = runs.Model.Forward([runs.Tokens.Corrupted], new RunOptions
        {
            Hooks = hooks, CacheFilter = wanted.Contains, Logits = LogitsMode.Last, LogitTokens = runs.MetricTokens,
            StartLayer = first, StartResidual = start, QStart = q0,
            Prefix = q0 > 0 ? KvPrefix.FromCache(runs.Corrupted, _names, q0) : null, Cancellation = ct,
        });
        progress?.Invoke(phase, 1, 1);
        var acts = new Dictionary<string, float[]>();
        foreach (var name in wanted)
        {
            var t = r.Cache[name];
            var full = new float[T * (t.Length / n)];
            t.Data.CopyTo(full, q0 * (t.Length / n));
            acts[name] = full;
        }
        return (runs.Recovery(StudyRuns.PairLogitDiff(r.Logits!.Slice(0))), acts);
    }

    /// <summary>One corrupted run per receiver (hook, head; head −1: the whole activation) with that slice taken from
    /// <paramref name="sources"/> at the positions from the first differing one; returns recoveries in order.</summary>
    double[] Stage2(string phase, List<(string Hook, int Head)> specs, Dictionary<string, float[]> sources)
    {
        var pos = runs.ChangedPositions;
        var items = specs.Select(s => (IReadOnlyList<Intervention>)[s.Head < 0
            ? Intervention.Patch(s.Hook, sources[s.Hook], pos)
            : Intervention.PatchHeads(s.Hook, sources[s.Hook], [s.Head], pos)]).ToList();
        return CircuitExperiments.Sweep(runs, false, phase, items, progress, ct).Select(runs.Recovery).ToArray();
    }

    /// <summary>
    /// The direct path's receiver inputs: for each layer after the earliest sender, its corrupted input residual plus
    /// every earlier sender's clean − corrupted head result (W_O's columns of that head times the z difference), through
    /// that layer's ln1 (at the new residual's own scale) and its q, k and v projections. Keyed by hook name, [T, …],
    /// rows before the first differing position 0 (the z difference is 0 there).
    /// </summary>
    Dictionary<string, float[]> DirectSources(IReadOnlyList<(int Layer, int Head)> senders)
    {
        int T = runs.Tokens.Length, d = C.DModel, e = C.DHead, H = C.NHeads, G = C.NKvHeads;
        int q0 = Math.Min(runs.FirstDifference, T - 1), n = T - q0, first = senders.Min(s => s.Layer);
        var deltas = new List<(int Layer, float[] Delta)>();   // [n, d] per sender
        foreach (var (sl, sh) in senders)
        {
            var zc = runs.Clean[_names.Layers[sl].Z].Data; var zk = runs.Corrupted[_names.Layers[sl].Z].Data;
            var dz = new float[n * e];
            for (int p = 0; p < n; p++)
                for (int i = 0; i < e; i++)
                    dz[p * e + i] = zc[((q0 + p) * H + sh) * e + i] - zk[((q0 + p) * H + sh) * e + i];
            var delta = new float[n * d];
            Gemm.LinearForward(dz, n, runs.Model.Weights.Layers[sl].Wo.ColSlice(sh * e, e), default, delta);
            deltas.Add((sl, delta));
        }
        // Each receiver layer's q, k and v are computed by the model's own block from the shifted residual, so the
        // family's ln1 (RMSNorm or LayerNorm, weight offset, bias) and its projection layout (separate, fused,
        // interleaved per head) are the forward's; the rest of that run is discarded.
        var sources = new Dictionary<string, float[]>();
        var dummy = new int[T];
        for (int l = first + 1; l < C.NLayers; l++)
        {
            var x = Tensor.Zeros(1, T, d);
            runs.Corrupted[_names.Layers[l].ResidPre].Data.AsSpan(0, T * d).CopyTo(x.Data);
            foreach (var (sl, delta) in deltas)
                if (sl < l)
                    for (int i = 0; i < n * d; i++) x.Data[q0 * d + i] += delta[i];
            var names = _names.Layers[l];
            var wanted = new HashSet<string>(StringComparer.Ordinal) { names.Q, names.K, names.V };
            var r = runs.Model.Forward([dummy], new RunOptions
            {
                StartLayer = l, StartResidual = x, Logits = LogitsMode.None, CacheFilter = wanted.Contains, Cancellation = ct,
            });
            foreach (string hook in wanted) sources[hook] = r.Cache[hook].Data;
        }
        return sources;
    }
}
