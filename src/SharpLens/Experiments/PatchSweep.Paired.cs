using SharpLens.Model;

namespace SharpLens.Experiments;

/// <summary>
/// The same items on two base runs whose prompts share their first tokens (the clean and corrupted prompts before the
/// first differing token): the second run of each item reuses the first run's keys and values for the shared positions
/// and recomputes only the rest.
/// </summary>
public sealed partial class PatchSweep
{
    /// <summary>
    /// Runs every item on this sweep's base run and on <paramref name="other"/>'s, whose tokens equal this sweep's at
    /// positions [0, <paramref name="shared"/>). Both apply the same interventions, so at those positions the two
    /// patched runs are identical at every layer: each batch runs here in full (keeping its keys and values), then on
    /// the other run for positions ≥ <paramref name="shared"/> only, attending to the kept keys and values of its own
    /// item. Returns the metrics on this run and on the other, in item order.
    /// </summary>
    public (double[] Own, double[] Other) RunPaired(IReadOnlyList<IReadOnlyList<Intervention>> items, PatchSweep other, int shared,
        Func<ReadOnlySpan<float>, double> metric, Action<int>? otherProgress = null)
    {
        int T = _tokens.Length, L = _model.Config.NLayers;
        if (other._model != _model || other._tokens.Length != T || !_tokens.AsSpan(0, shared).SequenceEqual(other._tokens.AsSpan(0, shared)))
            throw new ArgumentException("the paired sweep must run the same model on a prompt sharing the first tokens", nameof(other));
        // Worth it only when every item starts at position 0 and at a layer (not the embedding).
        if (shared < 1 || shared >= T || items.Any(i => i.Count == 0 || i.Any(x => x.Layer < 0 || x.FirstPosition > 0)))
            return (Run(items, metric), other.Run(items, metric));
        if (AcrossPairs is { } group) return group.RunPaired(new PairedRequest(this, other, shared, items, metric, otherProgress));

        var own = new double[items.Count];
        var second = new double[items.Count];
        var order = Enumerable.Range(0, items.Count).Select(i => (Index: i, Pos: 0, Layer: StartLayer(items[i], L)))
            .OrderBy(x => x.Layer).ToList();
        int done = 0;
        var pool = new List<KvPrefix>();   // per batch slot, reused by every batch: [layer][shared · n_kv · d_head]
        foreach (var (s, e) in Partition(order.Select(o => (o.Pos, o.Layer)).ToList(), T, L))
        {
            var batch = order.GetRange(s, e - s);
            var list = batch.Select(b => items[b.Index]).ToList();
            while (pool.Count < list.Count) pool.Add(NewPrefix(shared));
            var prefixes = pool.GetRange(0, list.Count).ToArray();
            var (values, start) = RunBatch(list, batch.Min(b => b.Layer), 0, metric, moreHooks: hooks => Capture(hooks, prefixes, shared));
            var (others, _) = other.RunBatch(list, start, shared, metric, prefixes);
            for (int i = 0; i < batch.Count; i++)
            {
                own[batch[i].Index] = values[i];
                second[batch[i].Index] = others[i];
            }
            done += batch.Count;
            OnProgress?.Invoke(done);
            otherProgress?.Invoke(done);
        }
        return (own, second);
    }

    /// <summary>An empty prefix of <paramref name="length"/> positions for every layer.</summary>
    KvPrefix NewPrefix(int length)
    {
        var c = _model.Config;
        int size = length * c.NKvHeads * c.DHead;
        return new KvPrefix
        {
            Length = length,
            RotK = Enumerable.Range(0, c.NLayers).Select(_ => new float[size]).ToArray(),
            V = Enumerable.Range(0, c.NLayers).Select(_ => new float[size]).ToArray(),
        };
    }

    /// <summary>Hooks that copy each item's rotated keys and values at positions [0, length) of every layer it computes
    /// into its prefix (layers it does not compute are never read by a run starting at the same layer).</summary>
    void Capture(HookSet hooks, KvPrefix[] prefixes, int length)
    {
        foreach (var names in _model.HookNames.Layers)
        {
            int l = names.Layer;
            hooks.Add(names.AttnKeys, ctx => ctx.Data[..prefixes[ctx.Batch].RotK[l].Length].CopyTo(prefixes[ctx.Batch].RotK[l]));
            hooks.Add(names.V, ctx => ctx.Data[..prefixes[ctx.Batch].V[l].Length].CopyTo(prefixes[ctx.Batch].V[l]));
        }
    }
}
