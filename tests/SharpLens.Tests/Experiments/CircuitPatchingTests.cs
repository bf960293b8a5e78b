using SharpLens.Datasets;
using SharpLens.Experiments;
using SharpLens.Model;
using SharpLens.Tests.Support;
using Xunit;

namespace SharpLens.Tests.Experiments;

/// <summary>
/// Exact edge patching of circuits: the full graph is the clean run and the empty one the corrupted run; removing every
/// out-edge of one head (or MLP) is noising that component (against reference_next.json's noise_*_all_fraction, made by
/// the float64 PyTorch reference); pruning never changes the logits; and the circuit found on the demo model's own task
/// holds the heads its README names.
/// </summary>
public class CircuitPatchingTests
{
    static (HookedTransformer M, int[] Clean, int[] Corrupted, int Answer, int Wrong) Load(string fixture)
    {
        var exp = Fixtures.Json(fixture, "reference_experiments.json");
        int[] Ids(string k) => exp["tokens"]![k]!.AsArray().Select(t => (int)t!).ToArray();
        return (HookedTransformer.Load(Fixtures.Dir(fixture)), Ids("clean"), Ids("corrupted"), (int)exp["answer_tokens"]!["clean"]!, (int)exp["answer_tokens"]!["corrupted"]!);
    }

    [Theory]
    [InlineData("setcomp-demo")]
    [InlineData("tiny-qwen2")]
    [InlineData("tiny-gpt2")]
    [InlineData("tiny-phi3")]
    [InlineData("tiny-qwen3")]      // q/k norms: a head's patched query/key input goes through its norm as in the forward
    [InlineData("tiny-gpt-neox")]   // parallel residual: a layer's MLP reads the block input, not its heads
    public void FullGraphIsTheCleanRun_EmptyIsTheCorrupted_AndDroppingAComponentsEdgesIsNoisingIt(string fixture)
    {
        var (m, clean, corrupted, a, b) = Load(fixture);
        using var _ = m;
        var g = EdgeGraph.Of(m.Config);
        var reference = Fixtures.Json(fixture, "reference_next.json");
        double Ld(IEnumerable<int> edges) => CircuitPatching.LogitDiff(m, g, edges, clean, corrupted, a, b);
        var all = Enumerable.Range(0, g.Edges.Count).ToList();
        double cleanLd = (double)reference["logit_lens_logit_diff_clean"]![m.Config.NLayers]!;
        double corruptedLd = (double)reference["logit_lens_logit_diff_corrupted"]![m.Config.NLayers]!;
        double tol = 2e-3 + 1e-4 * Math.Abs(cleanLd - corruptedLd);
        double full = Ld(all), none = Ld([]);
        Assert.True(Math.Abs(full - cleanLd) <= tol, $"full graph {full}, clean {cleanLd}");
        Assert.True(Math.Abs(none - corruptedLd) <= tol, $"empty circuit {none}, corrupted {corruptedLd}");
        Assert.True(Math.Abs((full - none) / (cleanLd - corruptedLd) - 1) <= 1e-3);

        void Noised(int sender, double fraction, string what)
        {
            double ld = Ld(all.Where(e => g.Edges[e].Sender != sender));
            Assert.True(Math.Abs(ld / cleanLd - fraction) <= 2e-3 + 1e-4 * Math.Abs(fraction), $"{fixture} {what}: {ld / cleanLd:g6}, noising reference {fraction:g6}");
        }
        for (int l = 0; l < g.Layers; l++)
        {
            Noised(g.MlpSender(l), (double)reference["noise_mlp_out_all_fraction"]![l]!, $"without m{l}'s edges");
            for (int h = 0; h < g.Heads; h++) Noised(g.HeadSender(l, h), (double)reference["noise_head_z_all_fraction"]![l]![h]!, $"without a{l}.h{h}'s edges");
        }
    }

    [Theory]
    [InlineData("tiny-gemma2", "post-norms")]
    public void DesignsWithoutAnEdgeDecompositionAreRefusedClearly(string fixture, string what)
    {
        var (m, clean, corrupted, a, b) = Load(fixture);
        using var _ = m;
        var g = EdgeGraph.Of(m.Config);
        var e = Assert.Throws<SharpLensException>(() => EdgeAttribution.Score(m, g, clean, corrupted, a, b));
        Assert.Equal(ExitCode.Input, e.Code);
        Assert.Contains(what, e.Message);
    }

    [Fact]
    public void PairsWhoseBaselinesFailAreListed_NoneLeftIsAnInputError_EveryEdgeIsFaithful()
    {
        var (m, clean, corrupted, a, b) = Load("setcomp-demo");
        using var _ = m;
        var good = new TokenPair(clean, corrupted, a, b, Line: 1);
        var flipped = new TokenPair(clean, corrupted, b, a, Line: 2);   // answer and wrong swapped: clean logit diff < 0
        int all = EdgeGraph.Of(m.Config).Edges.Count;
        var r = CircuitDiscovery.Run(m, [good, flipped], edges: all);
        Assert.Single(r.Pairs);
        Assert.Equal(2, r.Excluded.Single().Line);
        Assert.Contains("clean logit diff", r.Excluded[0].Reason);
        Assert.Equal(1.0, r.MeanFaithfulness, 3);
        var e = Assert.Throws<SharpLensException>(() => CircuitDiscovery.Run(m, [flipped], edges: 10));
        Assert.Equal(ExitCode.Input, e.Code);
        Assert.Equal(ExitCode.Usage, Assert.Throws<SharpLensException>(() => CircuitDiscovery.Run(m, [good], edges: all + 1)).Code);
    }

    [Fact]
    public void PruningLeavesTheCircuitsLogitsAsTheyWere()
    {
        var (m, clean, corrupted, a, b) = Load("setcomp-demo");
        using var _ = m;
        var g = EdgeGraph.Of(m.Config);
        var rng = new Random(3);
        for (int trial = 0; trial < 4; trial++)
        {
            var edges = Enumerable.Range(0, g.Edges.Count).Where(_ => rng.NextDouble() < 0.08).ToList();
            var pruned = g.Prune(edges);
            Assert.True(pruned.Count < edges.Count, "nothing was pruned: the trial tests nothing");
            double before = CircuitPatching.LogitDiff(m, g, edges, clean, corrupted, a, b);
            double after = CircuitPatching.LogitDiff(m, g, pruned, clean, corrupted, a, b);
            Assert.True(Math.Abs(before - after) <= 1e-3, $"trial {trial}: {edges.Count} edges {before}, pruned to {pruned.Count}: {after}");
        }
    }

    [Fact]
    public void TheDemoModelsCircuitHoldsTheHeadsItsReadmeNames()
    {
        // EAP-IG: plain EAP misses L1H1's inputs, whose attention is saturated on the corrupted run (AtP's known failure).
        using var m = HookedTransformer.Load(Fixtures.DemoModelDir);
        var pairs = SetCompletionTask.Generate(m.Tokenizer, 12, 0).Select(p => new TokenPair(m.ToTokens(p.Clean), m.ToTokens(p.Corrupted),
            m.ToSingleToken(p.Clean, p.Answer), m.ToSingleToken(p.Corrupted, p.Wrong))).ToList();
        var r = CircuitDiscovery.Run(m, pairs, edges: 100, igSteps: 5);
        Assert.Contains("a1.h0", r.Nodes);
        Assert.Contains("a1.h1", r.Nodes);
        // The two README heads write the most of layer 1 in the circuit (Σ of their out-edges' scores).
        double Out(int h) => r.Circuit.Where(e => r.Graph.Edges[e].Sender == r.Graph.HeadSender(1, h)).Sum(e => r.Scores[e]);
        var layer1 = Enumerable.Range(0, r.Graph.Heads).OrderByDescending(Out).ToArray();
        Assert.Equal(new[] { 0, 1 }, layer1.Take(2).Order().ToArray());
        Assert.True(r.MeanFaithfulness > 0.5, $"faithfulness {r.MeanFaithfulness}");
        Assert.Equal(r.Pairs.Count + r.Excluded.Count, pairs.Count);
        Assert.True(r.Circuit.Count <= 100);
        Assert.All(r.Circuit, e => Assert.Contains(e, r.Top));
    }
}
