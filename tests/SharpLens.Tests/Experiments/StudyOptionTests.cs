using System.Text.Json.Nodes;
using SharpLens.Experiments;
using SharpLens.Model;
using SharpLens.Tests.Support;

namespace SharpLens.Tests.Experiments;

/// <summary>Study.Run honours its options (pair layer, heads, defined tokens) and reports every phase to the end.</summary>
public class StudyOptionTests
{
    sealed class Recorder : IProgress<StudyProgress>
    {
        public readonly List<StudyProgress> Reports = new();
        public void Report(StudyProgress value) { lock (Reports) Reports.Add(value); }
    }

    [Fact]
    public void ExplicitPairLayerAndHeads_AreUsed_AndEveryPhaseFinishes()
    {
        var reference = Fixtures.Json("tiny-qwen2", "reference_experiments.json");
        using var model = HookedTransformer.Load(Fixtures.Dir("tiny-qwen2"));
        var heads = new List<(int, int)> { (0, 1), (1, 0), (1, 3) };
        var progress = new Recorder();
        // Only odd ids count as defined tokens here, as padding rows of a real vocabulary do not.
        var r = Study.Run(model, ReferenceExperimentTests.TokensOf(reference),
            new StudyOptions { PairLayer = 0, Heads = heads }, id => id % 2 == 1, progress);

        Assert.Equal(0, r["head_pair_layer"]!.GetValue<int>());
        Assert.Equal(heads.Select(h => new[] { h.Item1, h.Item2 }),
            r["top_heads"]!.AsArray().Select(p => p!.AsArray().Select(x => x!.GetValue<int>()).ToArray()));

        var topIds = Numbers(r["head_top_tokens_clean"]!).Concat(Numbers(r["head_top_tokens_corrupted"]!)).ToList();
        Assert.NotEmpty(topIds);
        Assert.All(topIds, id => Assert.True(id % 2 == 1, $"undefined token {id} among the top tokens"));

        foreach (var phase in progress.Reports.GroupBy(p => p.Phase))
        {
            var last = phase.Last();
            Assert.True(last.Done == last.Total, $"phase '{phase.Key}' ended at {last.Done}/{last.Total}");
        }
        Assert.Contains(progress.Reports, p => p.Phase == "attention patterns");
        Assert.Contains(progress.Reports, p => p.Phase == "direct logit attribution");
    }

    static IEnumerable<int> Numbers(JsonNode node) => node switch
    {
        JsonArray a => a.SelectMany(x => Numbers(x!)),
        _ => [node.GetValue<int>()],
    };
}
