using System.Text.Json.Nodes;
using SharpLens.Datasets;
using SharpLens.Model;
using SharpLens.Statistics;

namespace SharpLens.Experiments;

/// <summary>Which pairs' baselines hold (EXPERIMENTS.md, "Datasets").</summary>
public enum BaselineRule
{
    /// <summary>The contract's rule: clean logit diff &gt; 0 and corrupted &lt; 0 (each prompt prefers its own answer).</summary>
    Sign,
    /// <summary>clean &gt; 0 and clean &gt; corrupted: for corruptions whose prompt has no answer of its own (IOI's "ABC",
    /// where the corrupted logit diff is about 0 and the sign rule would keep a biased half of the pairs).</summary>
    Gap,
    /// <summary>Every pair whose baselines are finite and differ (recoveries are defined): for timing on random weights
    /// (<c>sharplens bench --dataset</c>), where few pairs pass the other rules; not a rule for findings.</summary>
    Any,
}

/// <summary>What a dataset study runs: the single-pair study's options for every pair, plus the dataset's own.</summary>
public sealed record DatasetStudyOptions
{
    /// <summary>The study each pair gets (experiments, pair layer, heads, sender, processing, ablations).</summary>
    public StudyOptions Study { get; init; } = new();
    public BaselineRule BaselineRule { get; init; } = BaselineRule.Sign;
    /// <summary>Bootstrap resamples of the confidence intervals.</summary>
    public int Resamples { get; init; } = Bootstrap.DefaultResamples;
    /// <summary>The study's seed: bootstrap draws and resample partners.</summary>
    public long Seed { get; init; }
    /// <summary>Pairs of one token length whose sweeps share batched forwards (<see cref="DatasetStudy.ComputePairs"/>),
    /// grouped within fixed tiles of this many consecutive pairs of the dataset; 1: pair by pair. The default,
    /// <see cref="SuggestedPairsPerBatch"/>, shares weight passes; memory grows with it (a group's base runs are held at
    /// once). A pair's values equal its single-pair study's within EXPERIMENTS.md's tolerances but not to the last bit
    /// (larger batches round differently, ~1e-7 absolute); since groups depend only on the global pair indices and shards
    /// hold whole tiles (<see cref="Sharding.ShardSpec.Block"/>), a sharded run forms the unsharded run's groups and merges
    /// to its numbers.</summary>
    public int PairsPerBatch { get; init; } = SuggestedPairsPerBatch;
    /// <summary>The default group size: it shares weight passes well (<c>bench --dataset</c> uses it too).</summary>
    public const int SuggestedPairsPerBatch = 8;

    /// <summary>True when the study needs <see cref="DatasetReference"/> (mean or resample ablation is asked for).</summary>
    public bool NeedsReference => (Study.Experiments?.Contains(StudyExperiments.Ablation) ?? true)
        && (Study.Ablations.Contains(AblationKind.Mean) || Study.Ablations.Contains(AblationKind.Resample));
}

/// <summary>Progress of a dataset study: pairs done of the pairs asked for, and the current pair's study progress.</summary>
public readonly record struct DatasetProgress(int PairsDone, int PairCount, int Line, StudyProgress Study);

/// <summary>One pair's outcome: its single-pair study results, or why it was excluded. Serialisable
/// (<see cref="ToJson"/>, <see cref="FromJson"/>) so that a shard can write its pairs and a merge read them.</summary>
public sealed record PairResult
{
    /// <summary>The pair's index in the dataset (0-based, file order).</summary>
    public required int Index { get; init; }
    /// <summary>The pair's line in the dataset file (1-based).</summary>
    public required int Line { get; init; }
    /// <summary>The single-pair study's keys (without timings); null when the pair is excluded.</summary>
    public JsonObject? Results { get; init; }
    /// <summary>Why the pair is excluded; null when it is used.</summary>
    public string? Excluded { get; init; }
    /// <summary>The pair's token labels, when it has them.</summary>
    public IReadOnlyList<string>? Labels { get; init; }
    /// <summary>The study's own seconds for this pair (studied in a group batched across pairs: the group's seconds over its size).</summary>
    public double Seconds { get; init; }

    public JsonObject ToJson() => new()
    {
        ["index"] = Index, ["line"] = Line, ["excluded"] = Excluded, ["seconds"] = Seconds,
        ["labels"] = Labels == null ? null : new JsonArray(Labels.Select(l => (JsonNode?)l).ToArray()),
        ["results"] = Results?.DeepClone(),
    };

    public static PairResult FromJson(JsonObject o) => new()
    {
        Index = (int)o["index"]!, Line = (int)o["line"]!, Excluded = (string?)o["excluded"], Seconds = (double?)o["seconds"] ?? 0,
        Labels = o["labels"]?.AsArray().Select(x => (string)x!).ToArray(),
        Results = o["results"]?.DeepClone().AsObject(),
    };
}

/// <summary>The dataset study's outcome (EXPERIMENTS.md, "Datasets"): <see cref="ToJson"/> writes its results.json keys.</summary>
public sealed record DatasetStudyResult
{
    /// <summary>n_pairs: lines read.</summary>
    public required int PairCount { get; init; }
    /// <summary>excluded: pairs whose baselines fail, by line.</summary>
    public required IReadOnlyList<DatasetProblem> Excluded { get; init; }
    /// <summary>The used pairs' results, in file order.</summary>
    public required IReadOnlyList<PairResult> Used { get; init; }
    /// <summary><see cref="DatasetAggregate.Summarize"/>'s keys: mean, std, ci95, recovery_of_means, bootstrap, the
    /// position aggregation, not_aggregated.</summary>
    public required JsonObject Summary { get; init; }
    public required BaselineRule BaselineRule { get; init; }

    public int UsedCount => Used.Count;

    /// <summary>The dataset keys of results.json: n_pairs, n_used, baseline_rule, excluded, per_pair, pair_lines and the summary.</summary>
    public JsonObject ToJson()
    {
        var o = new JsonObject
        {
            ["n_pairs"] = PairCount,
            ["n_used"] = UsedCount,
            ["baseline_rule"] = BaselineRule.ToString().ToLowerInvariant(),
            ["excluded"] = new JsonArray(Excluded.Select(e => (JsonNode?)new JsonObject { ["line"] = e.Line, ["reason"] = e.Reason }).ToArray()),
            ["pair_lines"] = new JsonArray(Used.Select(u => (JsonNode?)u.Line).ToArray()),
            ["per_pair"] = DatasetAggregate.PerPair(Used.Select(u => u.Results!).ToList()),
        };
        foreach (var (k, v) in Summary) o[k] = v?.DeepClone();
        return o;
    }
}

/// <summary>
/// The study over a dataset of prompt pairs (EXPERIMENTS.md, "Datasets"): every experiment of <see cref="Study"/> on every
/// pair, per-pair values kept, then mean, std, bootstrap CI and recovery of means over the pairs whose baselines hold.
/// In two public halves so that a shard can compute a slice and a merge aggregate the slices:
/// <see cref="ComputePairs"/> (the per-pair results of any subset of pair indices; pairs stream through in groups whose
/// sweeps share batched forwards, so memory holds one group's activations whatever the dataset's size) and <see cref="Aggregate"/> (per-pair results of
/// every pair → the dataset result). <see cref="Run"/> is the two together. Mean and resample ablation also need
/// <see cref="DatasetReference"/> (<see cref="Reference"/>), the same for every shard.
/// </summary>
public static class DatasetStudy
{
    /// <summary>Why a pair with these baselines is excluded under <paramref name="rule"/>; null when it is used.</summary>
    public static string? ExclusionReason(BaselineRule rule, double clean, double corrupted)
    {
        string F(double v) => v.ToString("0.####", System.Globalization.CultureInfo.InvariantCulture);
        if (!double.IsFinite(clean) || !double.IsFinite(corrupted)) return $"baselines are not finite (clean {F(clean)}, corrupted {F(corrupted)})";
        if (rule == BaselineRule.Any) return clean == corrupted ? "clean and corrupted logit diffs are equal: every recovery would be 0/0" : null;
        if (clean <= 0) return $"clean logit diff {F(clean)} ≤ 0: the model does not prefer the answer on the clean prompt";
        if (rule == BaselineRule.Sign && corrupted >= 0) return $"corrupted logit diff {F(corrupted)} ≥ 0: the model does not prefer the wrong token on the corrupted prompt";
        if (rule == BaselineRule.Gap && corrupted >= clean) return $"corrupted logit diff {F(corrupted)} ≥ clean {F(clean)}: no gap to recover";
        return null;
    }

    /// <summary>
    /// The rule a dataset's pairs call for: <see cref="BaselineRule.Gap"/> when every pair is an IOI pair corrupted by the
    /// "ABC" variant (<c>meta.corruption</c> <c>abc_…</c>, as <c>sharplens dataset ioi</c> writes it) — a third name at S2
    /// leaves the model no preference between IO and S, so the corrupted logit diff is about 0 and the sign rule would keep
    /// only the pairs where it happens to lean to S — else <see cref="BaselineRule.Sign"/>.
    /// </summary>
    public static BaselineRule DefaultRule(IEnumerable<PromptPair> pairs) =>
        pairs.All(p => p.Meta?["corruption"] is JsonValue v && v.TryGetValue(out string? c) && c.StartsWith("abc", StringComparison.Ordinal))
            ? BaselineRule.Gap : BaselineRule.Sign;

    /// <summary>The reference pass when <paramref name="options"/> asks for mean or resample ablation; null otherwise.</summary>
    public static DatasetReference? Reference(HookedTransformer model, IReadOnlyList<PreparedPair> pairs, DatasetStudyOptions options,
        Action<int, int>? progress = null, CancellationToken ct = default) =>
        options.NeedsReference ? DatasetReference.Compute(model, pairs, options.BaselineRule, options.Seed, progress, ct) : null;

    /// <summary>
    /// The whole study: <see cref="Reference"/>, <see cref="ComputePairs"/> over every pair, <see cref="Aggregate"/>.
    /// </summary>
    /// <exception cref="SharpLensException">(<see cref="ExitCode.Input"/>) when no pair's baselines hold.</exception>
    public static DatasetStudyResult Run(HookedTransformer model, IReadOnlyList<PreparedPair> pairs, DatasetStudyOptions options,
        Func<int, bool> isDefinedToken, IProgress<DatasetProgress>? progress = null, CancellationToken ct = default)
    {
        var reference = Reference(model, pairs, options, (done, total) =>
            progress?.Report(new DatasetProgress(0, pairs.Count, 0, new StudyProgress("reference pass (baselines and means)", done, total))), ct);
        var results = ComputePairs(model, pairs, Enumerable.Range(0, pairs.Count), reference, options, isDefinedToken, progress, ct).ToList();
        return Aggregate(pairs.Count, results, options);
    }

    /// <summary>
    /// Computes the pairs at <paramref name="indices"/> (any subset, any order; yielded in that order): each pair's base
    /// runs, its baselines against <see cref="DatasetStudyOptions.BaselineRule"/> (the reference's when given), and for a
    /// used pair the single-pair study — the same keys a single-pair study of it writes (without the attention viewer's
    /// whole patterns and timings), plus mean and resample ablation from <paramref name="reference"/>.
    /// Pairs are studied in groups (<see cref="CrossPairSweeps"/>): the pairs of one token length within one tile of
    /// <see cref="DatasetStudyOptions.PairsPerBatch"/> consecutive dataset indices (tile t = pairs [t·N, (t + 1)·N)), so
    /// a tile's groups — and its numbers — are the same whichever run (whole, or a shard holding the tile) computes it: the sweeps that go through <see cref="PatchSweep.Run(IReadOnlyList{IReadOnlyList{Intervention}}, Func{ReadOnlySpan{float}, double})"/>
    /// and <see cref="PatchSweep.RunPaired"/> — activation patching (residual stream, attention and MLP outputs, heads,
    /// head pairs, control), the ablations (zero, mean, resample, the joint grid), head-input (q/k/v/pattern) patching,
    /// noising, AtP verification — run the rows of every pair of the group in the same batched forwards; the rest (base
    /// runs, AtP, path patching, DLA, the logit lens) pair by pair.
    /// A pair's <see cref="PairResult.Seconds"/> is then its group's seconds over the group's size. Groups are computed one after the other, so memory holds one group's
    /// activations whatever the dataset's size.
    /// </summary>
    /// <param name="reference">needed when <see cref="DatasetStudyOptions.NeedsReference"/>; computed from every pair</param>
    public static IEnumerable<PairResult> ComputePairs(HookedTransformer model, IReadOnlyList<PreparedPair> pairs, IEnumerable<int> indices,
        DatasetReference? reference, DatasetStudyOptions options, Func<int, bool> isDefinedToken,
        IProgress<DatasetProgress>? progress = null, CancellationToken ct = default)
    {
        if (options.NeedsReference && reference == null)
            throw new ArgumentException("mean and resample ablation need the dataset's reference pass (DatasetStudy.Reference)", nameof(reference));
        if (options.PairsPerBatch < 1)
            throw SharpLensException.Usage($"pairs per batch must be at least 1 (got {options.PairsPerBatch})", nameof(DatasetStudyOptions.PairsPerBatch));
        var list = indices.ToList();
        int done = 0;
        var gate = new object();   // progress from a group's threads (one works at a time; the lock also orders the writes)
        void Report(PreparedPair pair, StudyProgress p)
        {
            lock (gate) progress?.Report(new DatasetProgress(done, list.Count, pair.Pair.Line, p));
        }
        var computed = new Dictionary<int, PairResult>();
        int next = 0;   // the next position of list to yield
        foreach (var group in Groups(list, i => pairs[i].Prompts.Tokens.Length, options.PairsPerBatch))
        {
            ct.ThrowIfCancellationRequested();
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var results = group.Count == 1
                ? [ComputePair(model, pairs, group[0], reference, options, isDefinedToken, Report, null, ct)]
                : CrossPairSweeps.Run(group.Count, (k, across) => ComputePair(model, pairs, group[k], reference, options, isDefinedToken, Report, across, ct));
            double share = Math.Round(clock.Elapsed.TotalSeconds / group.Count, 4);
            foreach (var r in results) computed[r.Index] = group.Count == 1 ? r : r with { Seconds = share };
            done += results.Length;
            while (next < list.Count && computed.Remove(list[next], out var ready)) { next++; yield return ready; }
        }
    }

    /// <summary>The pair indices of <paramref name="list"/> in groups: by tile (index / <paramref name="tile"/>), tiles in
    /// order of their first pair in the list; inside a tile by token length, groups in order of their smallest index,
    /// each in index order. A group depends only on which indices of its tile the list holds (all of them, for a whole
    /// run or a shard of whole tiles), never on the list's order or on other tiles.</summary>
    static IEnumerable<List<int>> Groups(List<int> list, Func<int, int> length, int tile)
    {
        foreach (var inTile in list.GroupBy(i => i / tile))
            foreach (var group in inTile.GroupBy(length).Select(g => g.Order().ToList()).OrderBy(g => g[0]))
                yield return group;
    }

    /// <summary>One pair's result (<see cref="ComputePairs"/>); <paramref name="across"/>: its group's sweeps, null alone.</summary>
    static PairResult ComputePair(HookedTransformer model, IReadOnlyList<PreparedPair> pairs, int i, DatasetReference? reference,
        DatasetStudyOptions options, Func<int, bool> isDefinedToken, Action<PreparedPair, StudyProgress> report,
        CrossPairSweeps.Participant? across, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        var pair = pairs[i];
        var sw = System.Diagnostics.Stopwatch.StartNew();
        string? excluded = reference?.Exclusions[i];
        JsonObject? results = null;
        if (excluded == null)
        {
            var runs = Study.RunsFor(model, pair.Prompts.Tokens, options.Study, ct);
            runs.AcrossPairs = across;
            excluded = ExclusionReason(options.BaselineRule, runs.CleanLogitDiff, runs.CorruptedLogitDiff);
            if (excluded == null)
            {
                var study = options.Study with { FullPatterns = false };
                if (reference != null)
                {
                    var resample = reference.ResampleValues(i, ct);
                    study = study with
                    {
                        MeanValues = reference.MeanValues(i),
                        ResampleValues = resample,
                        // one used pair: no other pair to resample from
                        Ablations = resample == null ? study.Ablations.Where(a => a != AblationKind.Resample).ToHashSet() : study.Ablations,
                    };
                }
                results = Study.Run(runs, study, isDefinedToken, new Progress(p => report(pair, p)), ct);
                results.Remove("timings");
            }
        }
        return new PairResult
        {
            Index = i, Line = pair.Pair.Line, Results = results, Excluded = excluded, Labels = pair.Pair.Labels,
            Seconds = Math.Round(sw.Elapsed.TotalSeconds, 4),
        };
    }

    /// <summary>
    /// The dataset result from the per-pair results of all <paramref name="pairCount"/> pairs (any order; each index once):
    /// used pairs in file order, the excluded ones listed, and <see cref="DatasetAggregate.Summarize"/> over the used ones
    /// with the bootstrap of <paramref name="options"/>. Keys whose per-pair choice differs between pairs (the head-pair
    /// layer, the path-patching sender, the joint-ablation heads) are not averaged: they are listed in not_aggregated.
    /// </summary>
    /// <exception cref="SharpLensException">(<see cref="ExitCode.Input"/>) when no pair's baselines hold.</exception>
    public static DatasetStudyResult Aggregate(int pairCount, IEnumerable<PairResult> results, DatasetStudyOptions options)
    {
        var all = results.OrderBy(r => r.Index).ToList();
        if (all.Select(r => r.Index).Distinct().Count() != all.Count) throw new ArgumentException("a pair appears twice", nameof(results));
        if (all.Count != pairCount) throw new ArgumentException($"{all.Count} pair results for {pairCount} pairs", nameof(results));
        var used = all.Where(r => r.Results != null).ToList();
        var excluded = all.Where(r => r.Results == null).Select(r => new DatasetProblem(r.Line, r.Excluded ?? "excluded")).ToList();
        if (used.Count == 0)
            throw SharpLensException.Input($"no pair of the {pairCount} passes its baselines ({RuleText(options.BaselineRule)}), so there is nothing to average. "
                + "First excluded: " + string.Join("; ", excluded.Take(3).Select(e => $"line {e.Line}: {e.Reason}"))
                + (options.BaselineRule == BaselineRule.Sign ? ". For a corruption without an answer of its own (IOI's ABC), try --baseline-rule gap" : ""));
        var perPair = used.Select(u => u.Results!).ToList();
        var summary = DatasetAggregate.Summarize(perPair, used.Select(u => u.Labels).ToList(), new Bootstrap(options.Resamples, options.Seed));
        DropInconsistentChoices(perPair, summary);
        return new DatasetStudyResult { PairCount = pairCount, Excluded = excluded, Used = used, Summary = summary, BaselineRule = options.BaselineRule };
    }

    /// <summary>The rule in words.</summary>
    public static string RuleText(BaselineRule rule) => rule switch
    {
        BaselineRule.Sign => "clean logit diff > 0 and corrupted < 0",
        BaselineRule.Gap => "clean logit diff > 0 and clean > corrupted",
        _ => "clean logit diff ≠ corrupted",
    };

    /// <summary>Keys indexed by a per-pair choice: averaging them is only meaningful when every pair chose the same.</summary>
    static readonly (string Choice, string Prefix)[] ChoiceKeys =
    [
        ("head_pair_layer", "head_pair_"), ("path_patch_sender", "path_patch_"), ("joint_ablate_heads", "joint_ablate_head_pair_"),
    ];

    static void DropInconsistentChoices(IReadOnlyList<JsonObject> perPair, JsonObject summary)
    {
        foreach (var (choice, prefix) in ChoiceKeys)
        {
            var values = perPair.Select(p => p[choice]?.ToJsonString()).Distinct().ToList();
            if (values.Count <= 1) continue;
            foreach (var section in new[] { "mean", "std", "ci95", "recovery_of_means" })
                foreach (var key in summary[section]!.AsObject().Select(kv => kv.Key).Where(k => k.StartsWith(prefix, StringComparison.Ordinal) && k != choice).ToList())
                {
                    summary[section]!.AsObject().Remove(key);
                    summary["not_aggregated"]![key] = $"pairs chose different {choice} (fix it for every pair: --pair-layer, --sender or --heads)";
                }
        }
    }

    sealed class Progress(Action<StudyProgress> report) : IProgress<StudyProgress>
    {
        public void Report(StudyProgress value) => report(value);
    }
}
