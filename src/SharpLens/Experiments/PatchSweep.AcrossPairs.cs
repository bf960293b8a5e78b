using SharpLens.Model;

namespace SharpLens.Experiments;

/// <summary>One sweep's share of a run across pairs: the sweep (its base prompt, cache and metric tokens), its items and
/// its metric.</summary>
internal sealed record SweepRequest(PatchSweep Sweep, IReadOnlyList<IReadOnlyList<Intervention>> Items, Func<ReadOnlySpan<float>, double> Metric);

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
    /// each request, with the rows of every request in the same batches: the rows are ordered and split as one sweep's
    /// (<see cref="Partition"/>), each batch starting at its rows' smallest layer and position. The final-position logits
    /// of the union of the requests' <see cref="LogitTokens"/> are computed; each metric gets its own sweep's, in its order.
    /// </summary>
    internal static double[][] RunAcross(IReadOnlyList<SweepRequest> requests)
    {
        var first = requests[0].Sweep;
        var model = first._model;
        int T = first._tokens.Length, L = model.Config.NLayers, d = model.Config.DModel;
        if (requests.Any(r => r.Sweep._model != model || r.Sweep._tokens.Length != T))
            throw new ArgumentException("sweeps run together must share the model and the prompt length", nameof(requests));
        var values = requests.Select(r => new double[r.Items.Count]).ToArray();
        var rows = requests.SelectMany((r, q) => r.Items.Select((item, i) =>
            (Request: q, Item: i, Pos: item.Count == 0 ? T - 1 : Math.Min(T - 1, item.Min(x => x.FirstPosition)), Layer: StartLayer(item, L))))
            .OrderBy(x => x.Pos).ThenBy(x => x.Layer).ToList();

        // The union of the metric tokens (null when a sweep reads the whole vocabulary row) and each request's place in it.
        int[]? union = requests.All(r => r.Sweep.LogitTokens != null) ? requests.SelectMany(r => r.Sweep.LogitTokens!).Distinct().ToArray() : null;
        var picks = requests.Select(r => r.Sweep.LogitTokens is { } own
            ? own.Select(t => union == null ? t : Array.IndexOf(union, t)).ToArray() : null).ToArray();
        var done = new int[requests.Count];

        foreach (var (s, e) in first.Partition(rows.Select(r => (r.Pos, r.Layer)).ToList(), T, L))
        {
            var batch = rows.GetRange(s, e - s);
            var items = batch.Select(b => requests[b.Request].Items[b.Item]).ToList();
            var sweeps = batch.Select(b => requests[b.Request].Sweep).ToList();
            int qStart = batch.Min(b => b.Pos), startLayer = batch.Min(b => b.Layer), n = T - qStart;
            var hooks = new HookSet();
            var applied = new HashSet<Intervention>(ReferenceEqualityComparer.Instance);
            foreach (var hook in items.SelectMany(b => b).Select(x => x.Hook).Distinct())
                hooks.Add(hook, ctx =>
                {
                    foreach (var x in items[ctx.Batch])
                        if (x.Hook == ctx.Name) { x.Apply(ctx.Data, ctx.Shape, ctx.PosOffset); applied.Add(x); }
                });
            Tensor? start = null;
            bool fromEmbedding = items.Any(b => b.Any(x => x.Layer < 0));
            if (fromEmbedding) (startLayer, qStart, n) = (0, 0, T);
            else if (startLayer > 0 || qStart > 0)
            {
                startLayer = Math.Min(startLayer, L - 1);
                start = Tensor.Zeros(batch.Count, n, d);
                for (int b = 0; b < batch.Count; b++)
                    sweeps[b]._base[model.HookNames.Layers[startLayer].ResidPre].Slice(0).Slice(qStart * d, n * d).CopyTo(start.Slice(b));
            }
            else startLayer = 0;
            var r = model.Forward(sweeps.Select(w => w._tokens).ToArray(), new RunOptions
            {
                Hooks = hooks,
                Logits = LogitsMode.Last,
                LogitTokens = union,
                StartLayer = startLayer,
                StartResidual = start,
                QStart = qStart,
                Prefixes = qStart > 0 ? sweeps.Select(w => w._prefix.Value).ToArray() : null,
                Cancellation = first.Cancellation,
            });
            if (items.SelectMany(b => b).FirstOrDefault(x => !applied.Contains(x)) is { } missed)
                throw new InvalidOperationException($"intervention on {missed.Hook} (layer {missed.Layer}) never ran: "
                    + "the hook name does not exist, or the declared layer is later than the hook's block");
            var picked = new float[union?.Length ?? 0];
            for (int b = 0; b < batch.Count; b++)
            {
                var (q, i) = (batch[b].Request, batch[b].Item);
                var row = r.Logits!.Slice(b);
                if (picks[q] is { } pick)
                {
                    if (picked.Length < pick.Length) picked = new float[pick.Length];
                    for (int k = 0; k < pick.Length; k++) picked[k] = row[pick[k]];
                    values[q][i] = requests[q].Metric(picked.AsSpan(0, pick.Length));
                }
                else values[q][i] = requests[q].Metric(row);
                done[q]++;
            }
            foreach (int q in batch.Select(b => b.Request).Distinct()) requests[q].Sweep.OnProgress?.Invoke(done[q]);
        }
        return values;
    }
}
