using SharpLens.Loading;
using SharpLens.Model;
using SharpLens.Tests.Support;

namespace SharpLens.Tests.Perf;

/// <summary>The shortcuts the study's speed rests on give the same numbers as the plain computation.</summary>
public class FastPathTests
{
    public static TheoryData<string> Models => new() { "tiny-qwen2", "tiny-llama", "setcomp-demo" };

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
}
