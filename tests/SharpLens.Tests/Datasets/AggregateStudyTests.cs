using System.Text.Json.Nodes;
using SharpLens.Datasets;
using SharpLens.Experiments;
using SharpLens.Loading;
using SharpLens.Model;
using SharpLens.Statistics;
using SharpLens.Tests.Support;
using SharpLens.Tokenization;

namespace SharpLens.Tests.Datasets;

/// <summary>The aggregation over real single-pair study results of generated pairs (the demo model), as the dataset study
/// will call it.</summary>
public class AggregateStudyTests
{
    [Fact]
    public void SummarizesStudyResultsOfGeneratedPairsByLabel()
    {
        string dir = Fixtures.Dir("setcomp-demo");
        var tok = HfTokenizer.Load(dir);
        using var model = HookedTransformer.Load(dir);
        var prepared = PromptDataset.FromPairs(SetCompletionTask.Generate(tok, 3, seed: 12)).Prepare(tok, ModelConfig.Load(dir));
        var results = prepared.Select(p => Study.Run(model, p.Prompts.Tokens, new StudyOptions { PairLayer = 2 }, tok.IsDefined)).ToArray();
        var labels = prepared.Select(p => p.Pair.Labels).ToArray();

        var o = DatasetAggregate.Summarize(results, labels, new Bootstrap(500, 3));
        Assert.Equal("label", (string)o["position_aggregation"]!);
        var slots = o["labels"]!.AsArray().Select(x => (string)x!).ToList();
        Assert.Contains("END", slots);
        Assert.Contains("answer_item", slots);
        Assert.Contains("swapped_listed", slots);

        // The final position's recovery, averaged by hand, equals the END slot of the aggregate.
        int layers = model.Config.NLayers, end = slots.IndexOf("END");
        var mean = o["mean"]!["resid_pre_patch_recovery"]!.AsArray();
        Assert.Equal(layers, mean.Count);
        for (int l = 0; l < layers; l++)
        {
            Assert.Equal(slots.Count, mean[l]!.AsArray().Count);
            double byHand = results.Average(r => r["resid_pre_patch_recovery"]![l]!.AsArray()[^1]!.GetValue<double>());
            Assert.Equal(byHand, mean[l]![end]!.GetValue<double>(), 12);
        }
        Assert.Equal(results.Average(r => r["clean_logit_diff"]!.GetValue<double>()), o["mean"]!["clean_logit_diff"]!.GetValue<double>(), 12);
        // Every aggregated key keeps its single-pair shape; ci95 brackets the mean wherever the pairs vary.
        foreach (var (key, value) in o["mean"]!.AsObject())
        {
            Assert.True(results[0].ContainsKey(key), key);
            var ci = o["ci95"]![key]!;
            if (value is JsonValue v) Assert.InRange(v.GetValue<double>(), ci[0]!.GetValue<double>() - 1e-9, ci[1]!.GetValue<double>() + 1e-9);
        }
        Assert.True(o["recovery_of_means"]!.AsObject().ContainsKey("head_z_patch_last_recovery"));
        Assert.True(o["mean"]!.AsObject().ContainsKey("dla_clean"));
        Assert.False(o["mean"]!.AsObject().ContainsKey("timings"));
        Assert.False(o["mean"]!.AsObject().ContainsKey("top_heads"));
    }
}
