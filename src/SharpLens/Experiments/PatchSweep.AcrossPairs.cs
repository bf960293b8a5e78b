using SharpLens.Model;

namespace SharpLens.Experiments;

/// <summary>One sweep's share of a run across pairs: the sweep (its base prompt, cache and metric tokens), its items and
/// its metric.</summary>
internal sealed record SweepRequest(PatchSweep Sweep, IReadOnlyList<IReadOnlyList<Intervention>> Items, Func<ReadOnlySpan<float>, double> Metric);

/// <summary>A paired sweep's share (<see cref="PatchSweep.RunPaired"/>): the items on <paramref name="Own"/>'s base run, then
/// on <paramref name="Other"/>'s, whose prompt equals Own's before <paramref name="Shared"/>.</summary>
internal sealed record PairedRequest(PatchSweep Own, PatchSweep Other, int Shared, IReadOnlyList<IReadOnlyList<Intervention>> Items,
    Func<ReadOnlySpan<float>, double> Metric, Action<int>? OtherProgress);

/// <summary>
/// Several sweeps in the same batched forwards: the items of sweeps on different base prompts of one length (the pairs of
/// a dataset study, <see cref="CrossPairSweeps"/>) share each batch, every row starting from its own base run's residual
/// stream and attending to its own base run's keys and values.
/// </summary>
public sealed partial class PatchSweep
{
    /// <summary>Set on the sweeps of a dataset study's pair: <see cref="Run(IReadOnlyList{IReadOnlyList{Intervention}}, Func{ReadOnlySpan{float}, double})"/>
    /// then waits for the other pairs of its group and runs with their sweeps (<see cref="RunAcross"/>).</summary>
    internal CrossPairSweeps.Participant? AcrossPairs { get; init; }

    /// <summary>
    /// What <see cref="Run(IReadOnlyList{IReadOnlyList{Intervention}}, Func{ReadOnlySpan{float}, double})"/> returns for
    /// each request, the requests' batches that start at the same layer and position merged into one forward
    /// (<see cref="MergedBatches"/>). The final-position logits of the union of the requests' <see cref="LogitTokens"/>
    /// are computed; each metric gets its own sweep's, in its order.
    /// </summary>
    internal static double[][] RunAcross(IReadOnlyList<SweepRequest> requests)
    {
        var first = requests[0].Sweep;
        var model = first._model;
        int T = first._tokens.Length, L = model.Config.NLayers, d = model.Config.DModel;
        if (requests.Any(r => r.Sweep._model != model || r.Sweep._tokens.Length != T))
            throw new ArgumentException("sweeps run together must share the model and the prompt length", nameof(requests));
        var values = requests.Select(r => new double[r.Items.Count]).ToArray();
        // each request's rows ordered as Read orders them alone
        var perRequest = requests.Select(r => r.Items.Select((item, i) =>
            (Item: i, Pos: item.Count == 0 ? T - 1 : Math.Min(T - 1, item.Min(x => x.FirstPosition)), Layer: StartLayer(item, L)))
            .OrderBy(x => x.Pos).ThenBy(x => x.Layer).ToList()).ToList();
        var (union, picks) = LogitUnion(requests.Select(r => r.Sweep).ToList());
        var done = new int[requests.Count];

        foreach (var (batch, layer, q0) in first.MergedBatches(perRequest, _ => 0, T, L))
        {
            var items = batch.Select(b => requests[b.Request].Items[b.Item]).ToList();
            var sweeps = batch.Select(b => requests[b.Request].Sweep).ToList();
            var (logits, _) = RunRows(sweeps, items, Math.Max(layer, 0), q0, union, null, null);
            for (int b = 0; b < batch.Count; b++)
            {
                var (q, i) = (batch[b].Request, batch[b].Item);
                values[q][i] = Metric(requests[q].Metric, logits.Slice(b), picks[q]);
                done[q]++;
            }
            foreach (int q in batch.Select(b => b.Request).Distinct()) requests[q].Sweep.OnProgress?.Invoke(done[q]);
        }
        return values;
    }

    /// <summary>
    /// What <see cref="RunPaired"/> returns for each request, the batches of requests with the same
    /// <see cref="PairedRequest.Shared"/> that start at the same layer merged (<see cref="MergedBatches"/>): each batch runs on the requests' own base runs in full from
    /// its rows' smallest layer (keeping each row's keys and values before the shared position), then on the other base
    /// runs from the shared position, each row attending to its own kept keys and values.
    /// </summary>
    internal static (double[] Own, double[] Other)[] RunPairedAcross(IReadOnlyList<PairedRequest> requests)
    {
        var first = requests[0].Own;
        int T = first._tokens.Length, L = first._model.Config.NLayers;
        if (requests.Any(r => r.Own._model != first._model || r.Other._model != first._model || r.Own._tokens.Length != T || r.Other._tokens.Length != T
                              || r.Shared < 1 || r.Shared >= T))
            throw new ArgumentException("paired sweeps run together must share the model and the prompt length, and share 1 … T − 1 positions", nameof(requests));
        var own = requests.Select(r => new double[r.Items.Count]).ToArray();
        var other = requests.Select(r => new double[r.Items.Count]).ToArray();
        var perRequest = requests.Select(r => r.Items.Select((item, i) => (Item: i, Pos: 0, Layer: StartLayer(item, L)))
            .OrderBy(x => x.Layer).ToList()).ToList();
        var (union, picks) = LogitUnion(requests.Select(r => r.Own).Concat(requests.Select(r => r.Other)).ToList());
        int maxShared = requests.Max(r => r.Shared);
        var done = new int[requests.Count];
        var pool = new List<KvPrefix>();   // per batch slot, reused by every batch
        // batches of pairs with the same shared prefix only: the other run starts at each row's own shared position
        foreach (var (batch, layer, _) in first.MergedBatches(perRequest, q => requests[q].Shared, T, L))
        {
            var items = batch.Select(b => requests[b.Request].Items[b.Item]).ToList();
            while (pool.Count < batch.Count) pool.Add(first.NewPrefix(maxShared));
            var prefixes = pool.GetRange(0, batch.Count).ToArray();
            var (mine, start) = RunRows(batch.Select(b => requests[b.Request].Own).ToList(), items, layer, 0, union, null,
                hooks => first.Capture(hooks, prefixes, maxShared));
            var (theirs, _) = RunRows(batch.Select(b => requests[b.Request].Other).ToList(), items, start,
                requests[batch[0].Request].Shared, union, prefixes, null);
            for (int b = 0; b < batch.Count; b++)
            {
                var (q, i) = (batch[b].Request, batch[b].Item);
                own[q][i] = Metric(requests[q].Metric, mine.Slice(b), picks[q]);
                other[q][i] = Metric(requests[q].Metric, theirs.Slice(b), picks[requests.Count + q]);
                done[q]++;
            }
            foreach (int q in batch.Select(b => b.Request).Distinct())
            {
                requests[q].Own.OnProgress?.Invoke(done[q]);
                requests[q].OtherProgress?.Invoke(done[q]);
            }
        }
        return own.Zip(other).ToArray();
    }

    /// <summary>
    /// Each request's rows (in its own order) split into batches as its sweep alone would split them (<see cref="Partition"/>),
    /// then the batches of every request that start at the same layer and position (and <paramref name="key"/>) merged into
    /// forwards of at most <see cref="MaxRows"/> rows: every row starts where it would alone, so it computes what it would
    /// alone (a row recomputing positions or layers that another pair's rows need would round differently), and the
    /// pairs' small batches share weight passes. Yields each forward's rows with its start layer and position.
    /// </summary>
    IEnumerable<(List<(int Request, int Item)> Rows, int Layer, int QStart)> MergedBatches(
        IReadOnlyList<List<(int Item, int Pos, int Layer)>> perRequest, Func<int, int> key, int T, int L)
    {
        var groups = new List<(int Layer, int Q0, int Key, List<List<(int Request, int Item)>> Batches)>();
        var index = new Dictionary<(int, int, int), int>();
        for (int q = 0; q < perRequest.Count; q++)
        {
            var rows = perRequest[q];
            foreach (var (s, e) in Partition(rows.Select(r => (r.Pos, r.Layer)).ToList(), T, L))
            {
                var batch = rows.GetRange(s, e - s);
                int layer = batch.Min(b => b.Layer), q0 = layer < 0 ? 0 : batch.Min(b => b.Pos);
                var k = (layer, q0, key(q));
                if (!index.TryGetValue(k, out int g)) { index[k] = g = groups.Count; groups.Add((layer, q0, key(q), [])); }
                groups[g].Batches.Add(batch.Select(b => (q, b.Item)).ToList());
            }
        }
        foreach (var (layer, q0, _, batches) in groups)
        {
            var merged = new List<(int Request, int Item)>();
            foreach (var b in batches)
            {
                if (merged.Count > 0 && (long)(merged.Count + b.Count) * (T - q0) > MaxRows) { yield return (merged, layer, q0); merged = []; }
                merged.AddRange(b);
            }
            if (merged.Count > 0) yield return (merged, layer, q0);
        }
    }

    /// <summary>The union of the sweeps' metric tokens (null when one reads the whole vocabulary row) and each sweep's
    /// places in it (null: the whole row).</summary>
    static (int[]? Union, int[]?[] Picks) LogitUnion(List<PatchSweep> sweeps)
    {
        int[]? union = sweeps.All(w => w.LogitTokens != null) ? sweeps.SelectMany(w => w.LogitTokens!).Distinct().ToArray() : null;
        var picks = sweeps.Select(w => w.LogitTokens is { } own ? own.Select(t => union == null ? t : Array.IndexOf(union, t)).ToArray() : null).ToArray();
        return (union, picks);
    }

    /// <summary>metric of a row of logits: those at <paramref name="pick"/> in that order, or the whole row.</summary>
    static double Metric(Func<ReadOnlySpan<float>, double> metric, ReadOnlySpan<float> row, int[]? pick)
    {
        if (pick is null) return metric(row);
        Span<float> picked = pick.Length <= 64 ? stackalloc float[pick.Length] : new float[pick.Length];
        for (int k = 0; k < pick.Length; k++) picked[k] = row[pick[k]];
        return metric(picked);
    }

    /// <summary>
    /// One batched forward of rows on different base runs of one length: row b runs <paramref name="items"/>[b] on
    /// <paramref name="sweeps"/>[b]'s prompt from (<paramref name="startLayer"/>, <paramref name="qStart"/>), resuming
    /// from that sweep's cached residual stream and attending before qStart to <paramref name="prefixes"/>[b] (null: the
    /// sweep's own base run's keys and values). Returns the final-position logits of <paramref name="logitTokens"/> (null:
    /// the vocabulary), [B, 1, |tokens|], and the layer it really started at.
    /// </summary>
    static (Tensor Logits, int StartLayer) RunRows(List<PatchSweep> sweeps, List<IReadOnlyList<Intervention>> items, int startLayer, int qStart,
        int[]? logitTokens, KvPrefix[]? prefixes, Action<HookSet>? moreHooks)
    {
        var model = sweeps[0]._model;
        int T = sweeps[0]._tokens.Length, L = model.Config.NLayers, d = model.Config.DModel;
        var applied = new HashSet<Intervention>(ReferenceEqualityComparer.Instance);
        var hooks = InterventionHooks(items, applied);
        moreHooks?.Invoke(hooks);
        Tensor? start = null;
        if (items.Any(b => b.Any(x => x.Layer < 0))) (startLayer, qStart) = (0, 0);   // from the embedding: every position
        else if (startLayer > 0 || qStart > 0)
        {
            startLayer = Math.Min(startLayer, L - 1);
            int n = T - qStart;
            start = Tensor.Zeros(sweeps.Count, n, d);
            for (int b = 0; b < sweeps.Count; b++)
                sweeps[b]._base[model.HookNames.Layers[startLayer].ResidPre].Slice(0).Slice(qStart * d, n * d).CopyTo(start.Slice(b));
        }
        else startLayer = 0;
        var r = model.Forward(sweeps.Select(w => w._tokens).ToArray(), new RunOptions
        {
            Hooks = hooks,
            Logits = LogitsMode.Last,
            LogitTokens = logitTokens,
            StartLayer = startLayer,
            StartResidual = start,
            QStart = qStart,
            Prefixes = qStart > 0 ? prefixes ?? sweeps.Select(w => w._prefix.Value).ToArray() : null,
            Cancellation = sweeps[0].Cancellation,
        });
        CheckAllRan(items, applied);
        return (r.Logits!, startLayer);
    }
}
