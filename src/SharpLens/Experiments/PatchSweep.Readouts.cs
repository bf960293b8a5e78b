using SharpLens.Model;

namespace SharpLens.Experiments;

/// <summary>What a sweep run reports: a metric of its logits at one position, or one activation.</summary>
public abstract record Readout
{
    /// <summary><paramref name="metric"/> of the logits at <paramref name="position"/> (negative: from the end; −1 = the
    /// final token) of <paramref name="tokens"/>' entries in that order (null: the sweep's <see cref="PatchSweep.LogitTokens"/>,
    /// and when that is null the whole vocabulary row).</summary>
    public static Readout Logits(Func<ReadOnlySpan<float>, double> metric, int position = -1, int[]? tokens = null) =>
        new LogitReadout(position, tokens, metric);

    /// <summary>The activation at <paramref name="hook"/> after the item's interventions, every position, per-prompt shape.</summary>
    public static Readout Activation(string hook) => new ActivationReadout(hook);
}

/// <inheritdoc cref="Readout.Logits"/>
public sealed record LogitReadout(int Position, int[]? Tokens, Func<ReadOnlySpan<float>, double> Metric) : Readout;

/// <inheritdoc cref="Readout.Activation"/>
public sealed record ActivationReadout(string Hook) : Readout;

/// <summary>One run of a sweep: its interventions and what to read from it. <paramref name="Prompt"/>: its base prompt's
/// tokens (for <see cref="PatchSweep.Run(HookedTransformer, IReadOnlyList{SweepItem}, CancellationToken)"/>); null on a
/// sweep's own base prompt.</summary>
public sealed record SweepItem(IReadOnlyList<Intervention> Interventions, IReadOnlyList<Readout> Readouts, int[]? Prompt = null);

/// <summary>What one item's run gave: the metric of each <see cref="LogitReadout"/> in the order asked, and each asked
/// activation by hook name ([pos, ...per-prompt shape], no batch axis).</summary>
public sealed record SweepReading(double[] Metrics, IReadOnlyDictionary<string, Tensor> Activations);

public sealed partial class PatchSweep
{
    /// <summary>
    /// Runs every item on this sweep's base prompt and returns its readouts, in item order. The reuse of
    /// <see cref="Run(IReadOnlyList{IReadOnlyList{Intervention}}, Func{ReadOnlySpan{float}, double})"/> holds: an item
    /// starts at the earliest layer its interventions or activation readouts touch, and at the earliest position its
    /// interventions or logit readouts touch (an activation readout asks for every position), attending to the base
    /// run's keys and values before it. Only final-position logits are computed when every logit readout of a batch
    /// reads the final position with the same tokens; otherwise every recomputed position's whole row.
    /// </summary>
    public SweepReading[] Read(IReadOnlyList<SweepItem> items)
    {
        int T = _tokens.Length, L = _model.Config.NLayers;
        int Resolve(int p) => p < 0 ? p + T : p;
        foreach (var r in items.SelectMany(i => i.Readouts).OfType<LogitReadout>())
            if ((uint)Resolve(r.Position) >= (uint)T)
                throw new ArgumentOutOfRangeException(nameof(items), $"a logit readout at position {r.Position} of a {T}-token prompt");
        var order = Enumerable.Range(0, items.Count).Select(i =>
        {
            var it = items[i];
            int pos = it.Interventions.Count == 0 ? T - 1 : it.Interventions.Min(x => x.FirstPosition);
            int layer = StartLayer(it.Interventions, L);
            foreach (var r in it.Readouts)
                if (r is LogitReadout lr) pos = Math.Min(pos, Resolve(lr.Position));
                else if (r is ActivationReadout ar) { pos = 0; layer = Math.Min(layer, Math.Min(L, Intervention.LayerOf(ar.Hook))); }
            return (Index: i, Pos: pos, Layer: layer);
        }).OrderBy(x => x.Pos).ThenBy(x => x.Layer).ToList();

        var results = new SweepReading[items.Count];
        int done = 0;
        foreach (var (s, e) in Partition(order.Select(o => (o.Pos, o.Layer)).ToList(), T, L))
        {
            var batch = order.GetRange(s, e - s);
            int pos = batch.Min(b => b.Pos), layer = batch.Min(b => b.Layer), q0 = layer < 0 ? 0 : pos;
            var list = batch.Select(b => items[b.Index]).ToList();
            var logitReads = list.SelectMany(i => i.Readouts).OfType<LogitReadout>().ToList();
            // Final-position logits of a shared token selection (what every study sweep asks), else whole rows.
            bool lastOnly = logitReads.All(r => Resolve(r.Position) == T - 1 && SameTokens(r.Tokens, logitReads[0].Tokens));
            var mode = logitReads.Count == 0 ? LogitsMode.None : lastOnly ? LogitsMode.Last : LogitsMode.All;
            var acts = list.Select(_ => new Dictionary<string, Tensor>()).ToArray();
            var (logits, _) = RunBatch(list.Select(i => i.Interventions).ToList(), Math.Max(layer, 0), q0, mode,
                lastOnly && logitReads.Count > 0 ? logitReads[0].Tokens ?? LogitTokens : null, null, hooks => CaptureActivations(hooks, list, acts));
            for (int b = 0; b < list.Count; b++)
            {
                var metrics = new List<double>();
                foreach (var r in list[b].Readouts.OfType<LogitReadout>())
                {
                    if (lastOnly) { metrics.Add(r.Metric(logits!.Slice(b))); continue; }
                    int V = _model.Config.VocabSize;
                    var row = logits!.Slice(b).Slice((Resolve(r.Position) - q0) * V, V);   // [vocab] at that position
                    var tokens = r.Tokens ?? LogitTokens;
                    if (tokens is null) { metrics.Add(r.Metric(row)); continue; }
                    var picked = new float[tokens.Length];
                    for (int t = 0; t < tokens.Length; t++) picked[t] = row[tokens[t]];
                    metrics.Add(r.Metric(picked));
                }
                results[batch[b].Index] = new SweepReading([.. metrics], acts[b]);
            }
            done += batch.Count;
            OnProgress?.Invoke(done);
        }
        return results;
    }

    static bool SameTokens(int[]? a, int[]? b) => a == b || (a != null && b != null && a.AsSpan().SequenceEqual(b));

    /// <summary>Hooks (after the interventions') that copy each item's asked activations.</summary>
    static void CaptureActivations(HookSet hooks, List<SweepItem> batch, Dictionary<string, Tensor>[] into)
    {
        foreach (var hook in batch.SelectMany(i => i.Readouts).OfType<ActivationReadout>().Select(r => r.Hook).Distinct())
            hooks.Add(hook, ctx =>
            {
                string name = ctx.Name;
                if (batch[ctx.Batch].Readouts.Any(r => r is ActivationReadout a && a.Hook == name))
                    into[ctx.Batch][ctx.Name] = new Tensor(ctx.Data.ToArray(), ctx.Shape);
            });
    }

    /// <summary>
    /// A sweep over a batch of base prompts: each item names its own base prompt (<see cref="SweepItem.Prompt"/>, any
    /// lengths), interventions and readouts. Each distinct base prompt runs once with the cache a sweep needs; its items
    /// then run as one <see cref="Read"/> on it (so they keep the start-layer, start-position and key/value-prefix reuse
    /// of their own base run). Returns the readings in item order.
    /// </summary>
    public static SweepReading[] Run(HookedTransformer model, IReadOnlyList<SweepItem> items, CancellationToken cancellation = default)
    {
        if (items.Any(i => i.Prompt is null or { Length: 0 }))
            throw new ArgumentException("every item of a sweep over base prompts names its prompt (SweepItem.Prompt)", nameof(items));
        var results = new SweepReading[items.Count];
        var groups = Enumerable.Range(0, items.Count).GroupBy(i => string.Join(',', items[i].Prompt!));
        foreach (var g in groups)
        {
            var tokens = items[g.First()].Prompt!;
            var (_, cache) = model.RunWithCache([tokens], NeedsInBaseCache);
            var sweep = new PatchSweep(model, tokens, cache) { Cancellation = cancellation };
            var readings = sweep.Read(g.Select(i => items[i]).ToList());
            int k = 0;
            foreach (int i in g) results[i] = readings[k++];
        }
        return results;
    }
}
