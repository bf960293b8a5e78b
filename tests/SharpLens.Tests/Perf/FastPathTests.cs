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
}
