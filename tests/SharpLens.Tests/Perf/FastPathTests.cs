using SharpLens.Loading;
using SharpLens.Model;
using SharpLens.Tests.Support;

namespace SharpLens.Tests.Perf;

/// <summary>The shortcuts the study's speed rests on give the same numbers as the plain computation.</summary>
public class FastPathTests
{
    public static TheoryData<string> Models => new() { "tiny-qwen2", "tiny-llama", "setcomp-demo", "tiny-gpt2", "tiny-gpt2-variant" };

    [Theory, MemberData(nameof(Models))]
    public void LogitTokens_AreTheSelectedColumnsOfTheFullLogits(string fixture)
    {
        using var m = HookedTransformer.Load(Fixtures.Dir(fixture));
        int V = m.Config.VocabSize;
        int[][] tokens = [[1, 5, 9, 2, 7, 3], [4, 4, 8, 1, 0, 6]];
        int[] sel = [V - 1, 3, 17];
        var full = m.Forward(tokens, new RunOptions { Logits = LogitsMode.Last }).Logits!;
        var some = m.Forward(tokens, new RunOptions { Logits = LogitsMode.Last, LogitTokens = sel }).Logits!;
        Assert.Equal([2, 1, sel.Length], some.Shape);
        for (int b = 0; b < 2; b++)
            for (int i = 0; i < sel.Length; i++)
                Assert.Equal(full[b, 0, sel[i]], some[b, 0, i], 1e-4f);
        Assert.Throws<ArgumentOutOfRangeException>(() => m.Forward(tokens, new RunOptions { LogitTokens = [V] }));
    }

    [Theory, MemberData(nameof(Models))]
    public void VectorisedRowRead_MatchesElementwise(string fixture)
    {
        using var m = HookedTransformer.Load(Fixtures.Dir(fixture));
        WeightMatrix w = m.Weights.Embed;
        var row = new float[w.Cols];
        foreach (int r in new[] { 0, 1, w.Rows / 2, w.Rows - 1 })
        {
            w.ReadRow(r, row);
            for (int c = 0; c < w.Cols; c++) Assert.Equal(w[r, c], row[c]);
        }
        var slice = m.Weights.Layers[0].Wo.ColSlice(1, w.Cols > 8 ? 7 : 1);
        var part = new float[slice.Cols];
        slice.ReadRow(2, part);
        for (int c = 0; c < slice.Cols; c++) Assert.Equal(slice[2, c], part[c]);
    }

    [Fact]
    public void SweepPartition_CoversEveryItemOnce_WithinMaxRows()
    {
        using var m = HookedTransformer.Load(Fixtures.Dir("tiny-qwen2"));
        int T = 25, L = 24;
        var sweep = new SharpLens.Experiments.PatchSweep(m, new int[T], new ActivationCache()) { MaxRows = 100 };
        var rng = new Random(3);
        var items = Enumerable.Range(0, 300).Select(_ => (Pos: rng.Next(T), Layer: rng.Next(-1, L + 1)))
            .OrderBy(x => x.Pos).ThenBy(x => x.Layer).ToList();
        var ranges = sweep.Partition(items, T, L);
        Assert.Equal(0, ranges[0].Start);
        Assert.Equal(items.Count, ranges[^1].End);
        for (int i = 0; i < ranges.Count; i++)
        {
            if (i > 0) Assert.Equal(ranges[i - 1].End, ranges[i].Start);
            var batch = items.GetRange(ranges[i].Start, ranges[i].End - ranges[i].Start);
            int pos = batch.Min(b => b.Layer < 0 ? 0 : b.Pos);
            Assert.True(batch.Count == 1 || batch.Count * (T - pos) <= 100, $"batch {i}: {batch.Count} items from position {pos}");
        }
        // Items that all start at the last layer and position share one run.
        var cheap = Enumerable.Repeat((Pos: T - 1, Layer: L), 50).ToList();
        Assert.Single(sweep.Partition(cheap, T, L));
    }

    [Theory, MemberData(nameof(Models))]
    public void LastLogits_FromTheFinalRowsOnlyBlock_EqualTheFullRun(string fixture)
    {
        using var m = HookedTransformer.Load(Fixtures.Dir(fixture));
        int V = m.Config.VocabSize;
        int[][] tokens = [[1, 5, 9, 2, 7, 3, 8], [4, 4, 8, 1, 0, 6, 2]];
        var all = m.Forward(tokens, new RunOptions()).Logits!;                             // every row, every block whole
        var last = m.Forward(tokens, new RunOptions { Logits = LogitsMode.Last }).Logits!; // last block: final rows only
        // Resumed at layer 1 from the cached residual with a KV prefix of 3 positions, as sweeps run.
        var (_, cache) = m.RunWithCache(tokens, SharpLens.Experiments.PatchSweep.NeedsInBaseCache);
        var resid = cache[m.HookNames.Layers[1].ResidPre];
        int T = tokens[0].Length, d = m.Config.DModel, q0 = 3;
        var start = Tensor.Zeros(2, T - q0, d);
        for (int b = 0; b < 2; b++) resid.Slice(b).Slice(q0 * d, (T - q0) * d).CopyTo(start.Slice(b));
        var resumedItem0 = m.Forward([tokens[0]], new RunOptions
        {
            Logits = LogitsMode.Last, StartLayer = 1, QStart = q0, Prefix = KvPrefix.FromCache(cache, m.HookNames, q0, 0),
            StartResidual = new Tensor(start.Slice(0).ToArray(), 1, T - q0, d),
        }).Logits!;
        for (int b = 0; b < 2; b++)
            for (int t = 0; t < V; t++)
                Assert.Equal(all[b, T - 1, t], last[b, 0, t], 1e-4f);
        for (int t = 0; t < V; t++) Assert.Equal(all[0, T - 1, t], resumedItem0[0, 0, t], 1e-4f);
    }

    [Theory, MemberData(nameof(Models))]
    public void PairedAblation_EqualsTwoSeparateSweeps(string fixture)
    {
        var r = Fixtures.Json(fixture, "reference_experiments.json");
        int[] Ids(string run) => r["tokens"]![run]!.AsArray().Select(t => t!.GetValue<int>()).ToArray();
        using var m = HookedTransformer.Load(Fixtures.Dir(fixture));
        var tokens = new SharpLens.Experiments.StudyTokens
        {
            Clean = Ids("clean"), Corrupted = Ids("corrupted"), Control = Ids("clean"),
            Answer = r["answer_tokens"]!["clean"]!.GetValue<int>(), Wrong = r["answer_tokens"]!["corrupted"]!.GetValue<int>(), Candidates = [],
        };
        var runs = new SharpLens.Experiments.StudyRuns(m, tokens);
        var ablation = new SharpLens.Experiments.AblationExperiments(runs, SharpLens.Experiments.Processing.Hf);
        var (clean, corrupted) = ablation.RunBoth();
        foreach (var (paired, separate) in new[] { (clean, ablation.Run(true)), (corrupted, ablation.Run(false)) })
        {
            double[] Flat(SharpLens.Experiments.AblationExperiments.Result x) => [.. x.Attn, .. x.Mlp, .. x.Heads.SelectMany(h => h)];
            var a = Flat(paired); var b = Flat(separate);
            for (int i = 0; i < a.Length; i++) Assert.Equal(b[i], a[i], 1e-3);
        }
    }
}
