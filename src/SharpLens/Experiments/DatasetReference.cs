using SharpLens.Datasets;
using SharpLens.Model;
using SharpLens.Statistics;

namespace SharpLens.Experiments;

/// <summary>
/// What a dataset study needs from every pair before it studies any one of them, when it runs mean or resample
/// ablation: each pair's baselines (so that the used pairs are known), the mean of every ablated activation
/// (<c>hook_attn_out</c>, <c>hook_mlp_out</c>, <c>attn.hook_z</c>) over the used pairs' clean and corrupted runs at each
/// label (every used pair labelled) or offset from the final position, and each used pair's resample partner. It is one
/// pass of two forwards per pair, deterministic (sums in pair order), so that every shard of a sharded study computes the
/// same reference. Memory: one pair's activations at a time plus one mean row per hook and slot.
/// </summary>
public sealed class DatasetReference
{
    readonly IReadOnlyList<PreparedPair> _pairs;
    readonly HookedTransformer _model;
    readonly Dictionary<string, int> _slotIndex = new();
    readonly Dictionary<string, float[][]> _means = new();   // hook → [slot] → row
    readonly Dictionary<int, int> _partner = new();          // pair index → partner pair index

    /// <summary>Each pair's (clean, corrupted) logit difference, by pair index.</summary>
    public IReadOnlyList<(double Clean, double Corrupted)> Baselines { get; }

    /// <summary>Why each pair is excluded (null: used), by pair index.</summary>
    public IReadOnlyList<string?> Exclusions { get; }

    /// <summary>True when positions are matched by label (every used pair has labels), false: by offset from the end.</summary>
    public bool ByLabel { get; }

    DatasetReference(HookedTransformer model, IReadOnlyList<PreparedPair> pairs, (double, double)[] baselines, string?[] exclusions, bool byLabel)
    {
        _model = model; _pairs = pairs; Baselines = baselines; Exclusions = exclusions; ByLabel = byLabel;
    }

    /// <summary>Runs the pass over every pair (see the class summary).</summary>
    /// <param name="seed">the study's seed: resample partners are drawn from it</param>
    public static DatasetReference Compute(HookedTransformer model, IReadOnlyList<PreparedPair> pairs, BaselineRule rule, long seed,
        Action<int, int>? progress = null, CancellationToken ct = default)
    {
        var names = model.HookNames.Layers.SelectMany(l => new[] { l.AttnOut, l.MlpOut, l.Z }).ToArray();
        var wanted = names.ToHashSet();
        var baselines = new (double, double)[pairs.Count];
        var exclusions = new string?[pairs.Count];
        // First the baselines (which pairs are used decides the slots), keeping nothing else.
        for (int i = 0; i < pairs.Count; i++)
        {
            ct.ThrowIfCancellationRequested();
            var t = pairs[i].Prompts.Tokens;
            double clean = LogitDiff(model, t.Clean, t, null, ct).Diff, corrupted = LogitDiff(model, t.Corrupted, t, null, ct).Diff;
            baselines[i] = (clean, corrupted);
            exclusions[i] = DatasetStudy.ExclusionReason(rule, clean, corrupted);
            progress?.Invoke(i + 1, 2 * pairs.Count);
        }
        var used = Enumerable.Range(0, pairs.Count).Where(i => exclusions[i] == null).ToArray();
        bool byLabel = used.Length > 0 && used.All(i => pairs[i].Pair.Labels != null);
        var r = new DatasetReference(model, pairs, baselines, exclusions, byLabel);

        // Then the means: sums in pair order, clean run then corrupted run, in double.
        var sums = new Dictionary<string, List<double[]>>();
        var counts = new List<int>();
        foreach (int i in used)
        {
            var t = pairs[i].Prompts.Tokens;
            var slots = r.SlotsOf(i).Select(s => r._slotIndex.TryGetValue(s, out int k) ? k : r._slotIndex[s] = r._slotIndex.Count).ToArray();
            while (counts.Count < r._slotIndex.Count) counts.Add(0);
            foreach (var ids in new[] { t.Clean, t.Corrupted })
            {
                var cache = LogitDiff(model, ids, t, wanted.Contains, ct).Cache!;
                foreach (var hook in names)
                {
                    var data = cache[hook].Data;
                    int row = data.Length / ids.Length;
                    var list = sums.TryGetValue(hook, out var l) ? l : sums[hook] = [];
                    while (list.Count < r._slotIndex.Count) list.Add(new double[row]);
                    for (int p = 0; p < ids.Length; p++)
                    {
                        var sum = list[slots[p]];
                        var src = data.AsSpan(p * row, row);
                        for (int e = 0; e < row; e++) sum[e] += src[e];
                    }
                }
                foreach (int s in slots) counts[s]++;
            }
            progress?.Invoke(pairs.Count + Array.IndexOf(used, i) + 1, pairs.Count + used.Length);
        }
        foreach (var (hook, list) in sums)
            r._means[hook] = list.Select((sum, s) => sum.Select(v => (float)(v / counts[s])).ToArray()).ToArray();

        // Resample partners: for the k-th used pair, another used pair drawn uniformly (a stream of its own, from the seed).
        if (used.Length > 1)
        {
            var rng = new SeededRandom(seed ^ 0x5245_5341_4D50_4C45L);   // "RESAMPLE"
            for (int k = 0; k < used.Length; k++) r._partner[used[k]] = used[(k + 1 + rng.NextInt(used.Length - 1)) % used.Length];
        }
        return r;
    }

    static (double Diff, ActivationCache? Cache) LogitDiff(HookedTransformer model, int[] ids, StudyTokens t, Func<string, bool>? cache, CancellationToken ct)
    {
        // The same forward as StudyRuns' base runs (one prompt, final-position logits): the same logit differences, bit for bit.
        var r = model.Forward([ids], new RunOptions { CacheFilter = cache ?? (_ => false), Logits = LogitsMode.Last, Cancellation = ct });
        var row = r.Logits!.Slice(0);
        return ((double)row[t.Answer] - row[t.Wrong], cache == null ? null : r.Cache);
    }

    /// <summary>The slot of every position of pair <paramref name="pair"/>: <c>label:NAME</c> or <c>offset:K</c> (K = T − 1 − position).</summary>
    IReadOnlyList<string> SlotsOf(int pair)
    {
        int T = _pairs[pair].Prompts.Tokens.Length;
        return ByLabel ? _pairs[pair].Pair.Labels!.Select(l => "label:" + l).ToArray()
            : Enumerable.Range(0, T).Select(p => "offset:" + (T - 1 - p).ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();
    }

    /// <summary>Mean ablation's values for pair <paramref name="pair"/>: at each position, the dataset mean at its slot (the
    /// same for the clean and the corrupted run).</summary>
    public AblationValues MeanValues(int pair)
    {
        var slots = SlotsOf(pair).Select(s => _slotIndex[s]).ToArray();
        var built = new Dictionary<string, float[]>();
        return (hook, _) =>
        {
            if (built.TryGetValue(hook, out var v)) return v;
            var means = _means[hook];
            int row = means[0].Length;
            v = new float[slots.Length * row];
            for (int p = 0; p < slots.Length; p++) means[slots[p]].CopyTo(v, p * row);
            return built[hook] = v;
        };
    }

    /// <summary>The resample partner of pair <paramref name="pair"/> (a pair index), or null with fewer than two used pairs.</summary>
    public int? PartnerOf(int pair) => _partner.TryGetValue(pair, out int j) ? j : null;

    /// <summary>
    /// Resample ablation's values for pair <paramref name="pair"/>: its partner's activations (clean run for the clean run,
    /// corrupted for the corrupted), position by position — by label, the same occurrence of the same label (the partner's
    /// last one when it has fewer; by offset where it lacks the label), else the same offset from the final position (the
    /// partner's first position where it is shorter). Runs the partner's two forwards; null without a partner.
    /// </summary>
    public AblationValues? ResampleValues(int pair, CancellationToken ct = default)
    {
        if (PartnerOf(pair) is not { } j) return null;
        var tj = _pairs[j].Prompts.Tokens;
        var wanted = _model.HookNames.Layers.SelectMany(l => new[] { l.AttnOut, l.MlpOut, l.Z }).ToHashSet();
        var clean = LogitDiff(_model, tj.Clean, tj, wanted.Contains, ct).Cache!;
        var corrupted = LogitDiff(_model, tj.Corrupted, tj, wanted.Contains, ct).Cache!;
        var map = PositionMap(pair, j);
        return (hook, cleanRun) =>
        {
            var src = (cleanRun ? clean : corrupted)[hook].Data;
            int row = src.Length / tj.Length;
            var v = new float[map.Length * row];
            for (int p = 0; p < map.Length; p++) src.AsSpan(map[p] * row, row).CopyTo(v.AsSpan(p * row, row));
            return v;
        };
    }

    /// <summary>For each position of pair <paramref name="i"/>, the position of pair <paramref name="j"/> it takes its value from.</summary>
    int[] PositionMap(int i, int j)
    {
        int Ti = _pairs[i].Prompts.Tokens.Length, Tj = _pairs[j].Prompts.Tokens.Length;
        var map = new int[Ti];
        for (int p = 0; p < Ti; p++) map[p] = Math.Max(0, Tj - Ti + p);
        if (!ByLabel) return map;
        var li = _pairs[i].Pair.Labels!; var lj = _pairs[j].Pair.Labels!;
        var seen = new Dictionary<string, int>();
        for (int p = 0; p < Ti; p++)
        {
            int occurrence = seen[li[p]] = seen.GetValueOrDefault(li[p]) + 1;
            var at = Enumerable.Range(0, Tj).Where(q => lj[q] == li[p]).ToArray();
            if (at.Length > 0) map[p] = at[Math.Min(occurrence, at.Length) - 1];
        }
        return map;
    }
}
