using SharpLens.Model;

namespace SharpLens.Experiments;

/// <summary>
/// The one generic routine behind every patching and ablation experiment: runs a base prompt once per item
/// (each item a list of <see cref="Intervention"/>s), batched, and returns the metric of each run.
/// Work is not repeated: a batch whose interventions all sit at layer ≥ L starts from the base run's cached
/// residual stream at L, and one whose interventions all start at position ≥ p recomputes only positions ≥ p,
/// attending to the base run's cached keys and values before p. Only final-position logits are computed.
/// </summary>
public sealed partial class PatchSweep
{
    readonly HookedTransformer _model;
    readonly int[] _tokens;
    readonly ActivationCache _base;
    readonly Lazy<KvPrefix> _prefix;

    /// <summary>Rows (batch × positions) per batched run: large enough to amortise weight reads, small enough for cache.</summary>
    public int MaxRows { get; init; } = 512;
    public CancellationToken Cancellation { get; init; }
    /// <summary>When set, the metric receives only these tokens' final-position logits, in this order (see
    /// <see cref="RunOptions.LogitTokens"/>); null: the whole vocabulary row.</summary>
    public int[]? LogitTokens { get; init; }
    /// <summary>Called with the number of runs finished so far in this sweep.</summary>
    public Action<int>? OnProgress { get; init; }

    /// <param name="baseCache">the base run's cache: must hold every layer's hook_resid_pre, keys (hook_rot_k, or hook_k without rotary positions) and hook_v</param>
    public PatchSweep(HookedTransformer model, int[] tokens, ActivationCache baseCache)
    {
        _model = model; _tokens = tokens; _base = baseCache;
        // One prefix of every position but the last serves every start position (a run reads only its first QStart):
        // a prefix per start position would hold O(T²·layers) floats across a residual sweep.
        _prefix = new(() => KvPrefix.FromCache(baseCache, model.HookNames, tokens.Length - 1));
    }

    /// <summary>Hook names a base run must cache for <see cref="PatchSweep"/>.</summary>
    public static bool NeedsInBaseCache(string name) =>
        name.EndsWith(".hook_resid_pre", StringComparison.Ordinal) || name.EndsWith(".hook_rot_k", StringComparison.Ordinal)
        || name.EndsWith(".hook_v", StringComparison.Ordinal)
        || name.EndsWith(".attn.hook_k", StringComparison.Ordinal);   // the keys attention reads without rotary positions

    /// <summary>The first block an item's runs must recompute: its earliest hook's layer, at most L (a hook after the
    /// blocks, or no intervention at all, recomputes only the final norm and unembedding).</summary>
    static int StartLayer(IReadOnlyList<Intervention> item, int L) => item.Count == 0 ? L : Math.Min(L, item.Min(x => x.Layer));

    /// <summary>Runs every item and returns metric(final-position logits) per item, in order: <see cref="Read"/> with one
    /// final-position logit readout per item (in a dataset study, batched with the other pairs' sweeps: <see cref="RunAcross"/>).</summary>
    public double[] Run(IReadOnlyList<IReadOnlyList<Intervention>> items, Func<ReadOnlySpan<float>, double> metric)
    {
        if (AcrossPairs is { } group) return group.Run(this, items, metric);
        var last = new LogitReadout(-1, null, metric);
        return Read(items.Select(i => new SweepItem(i, [last])).ToList()).Select(r => r.Metrics[0]).ToArray();
    }

    /// <summary>Per-layer cost of a batched run besides its rows, in rows: every run reads and packs each layer's
    /// weights once, which costs about as much as a dozen rows of products.</summary>
    const double OverheadRows = 12;

    /// <summary>
    /// Splits items (sorted by first position, then layer) into contiguous batches of at most <see cref="MaxRows"/> rows
    /// that minimise the modelled time Σ (layers run) × (rows + <see cref="OverheadRows"/>): a batch starts at its
    /// items' smallest layer and position, so merging saves weight passes but recomputes what some items did not need.
    /// Exact dynamic programme over split points; returns [start, end) index ranges in order.
    /// </summary>
    internal List<(int Start, int End)> Partition(IReadOnlyList<(int Pos, int Layer)> sorted, int T, int L)
    {
        int n = sorted.Count;
        var best = new double[n + 1];
        var from = new int[n + 1];
        for (int e = 1; e <= n; e++)
        {
            best[e] = double.MaxValue;
            int pos = int.MaxValue, layer = int.MaxValue;
            for (int s = e - 1; s >= 0; s--)
            {
                pos = Math.Min(pos, sorted[s].Layer < 0 ? 0 : sorted[s].Pos);   // from the embedding: every position
                layer = Math.Min(layer, sorted[s].Layer);
                long rows = (long)(e - s) * (T - pos);
                if (rows > MaxRows && s < e - 1) break;
                int layers = L - Math.Clamp(layer, 0, L - 1);
                double cost = best[s] + layers * (rows + OverheadRows);
                if (cost < best[e]) { best[e] = cost; from[e] = s; }
            }
        }
        var ranges = new List<(int, int)>();
        for (int e = n; e > 0; e = from[e]) ranges.Add((from[e], e));
        ranges.Reverse();
        return ranges;
    }

    /// <summary>Runs one batch from (startLayer, qStart); returns the metrics and the layer it really started at.
    /// <paramref name="prefixes"/> (one per item) replace the base run's KV prefix; <paramref name="moreHooks"/> adds
    /// hooks after the interventions' (they see the patched activations).</summary>
    (double[] Values, int StartLayer) RunBatch(List<IReadOnlyList<Intervention>> batch, int startLayer, int qStart,
        Func<ReadOnlySpan<float>, double> metric, KvPrefix[]? prefixes = null, Action<HookSet>? moreHooks = null)
    {
        var (logits, start) = RunBatch(batch, startLayer, qStart, LogitsMode.Last, LogitTokens, prefixes, moreHooks);
        return (Enumerable.Range(0, batch.Count).Select(b => metric(logits!.Slice(b))).ToArray(), start);
    }

    /// <summary>Runs one batch from (startLayer, qStart): logits [B, 1 or T − qStart, vocab or |logitTokens|] (null for
    /// <see cref="LogitsMode.None"/>) and the layer it really started at.</summary>
    (Tensor? Logits, int StartLayer) RunBatch(List<IReadOnlyList<Intervention>> batch, int startLayer, int qStart, LogitsMode mode,
        int[]? logitTokens, KvPrefix[]? prefixes, Action<HookSet>? moreHooks)
    {
        int T = _tokens.Length, d = _model.Config.DModel, B = batch.Count, n = T - qStart;
        var applied = new HashSet<Intervention>(ReferenceEqualityComparer.Instance);
        var hooks = InterventionHooks(batch, applied);
        moreHooks?.Invoke(hooks);
        Tensor? start = null;
        bool fromEmbedding = batch.Any(b => b.Any(x => x.Layer < 0));
        if (!fromEmbedding && (startLayer > 0 || qStart > 0))
        {
            if (startLayer >= _model.Config.NLayers) startLayer = _model.Config.NLayers - 1;
            var resid = _base[_model.HookNames.Layers[startLayer].ResidPre].Slice(0).Slice(qStart * d, n * d);
            start = Tensor.Zeros(B, n, d);
            for (int b = 0; b < B; b++) resid.CopyTo(start.Slice(b));
        }
        else startLayer = 0;
        var r = _model.Forward(Enumerable.Repeat(_tokens, B).ToArray(), new RunOptions
        {
            Hooks = hooks,
            Logits = mode,
            LogitTokens = mode == LogitsMode.None ? null : logitTokens,
            StartLayer = startLayer,
            StartResidual = start,
            QStart = qStart,
            Prefix = qStart > 0 && prefixes == null ? _prefix.Value : null,
            Prefixes = qStart > 0 ? prefixes : null,
            Cancellation = Cancellation,
        });
        CheckAllRan(batch, applied);
        return (r.Logits, startLayer);
    }

    /// <summary>Hooks that apply each batch item's interventions at their hook points, adding each one that ran to
    /// <paramref name="applied"/>.</summary>
    static HookSet InterventionHooks(List<IReadOnlyList<Intervention>> batch, HashSet<Intervention> applied)
    {
        var hooks = new HookSet();
        foreach (var hook in batch.SelectMany(b => b).Select(x => x.Hook).Distinct())
            hooks.Add(hook, ctx =>
            {
                foreach (var x in batch[ctx.Batch])
                    if (x.Hook == ctx.Name) { x.Apply(ctx.Data, ctx.Shape, ctx.PosOffset); applied.Add(x); }
            });
        return hooks;
    }

    /// <summary>Throws for an intervention that never ran: a misspelt hook, or a Layer later than its hook's block (which
    /// lets the sweep start after it), would otherwise read as "no effect".</summary>
    static void CheckAllRan(List<IReadOnlyList<Intervention>> batch, HashSet<Intervention> applied)
    {
        if (batch.SelectMany(b => b).FirstOrDefault(x => !applied.Contains(x)) is { } missed)
            throw new InvalidOperationException($"intervention on {missed.Hook} (layer {missed.Layer}) never ran: "
                + "the hook name does not exist, or the declared layer is later than the hook's block");
    }
}
