using SharpLens.Experiments;
using SharpLens.Model;
using SharpLens.Tests.Support;
using Xunit;

namespace SharpLens.Tests.Experiments;

/// <summary>
/// Edge attribution patching by its definition: each edge's score against the derivative of the logit difference when
/// only that receiver's input moves along the sender's clean − corrupted output, measured by central finite differences
/// with the model's own forward (the receiver's q/k/v or ln2 output taken from a second run whose residual stream is
/// shifted there), for EAP and EAP-IG; and the sum of a sender's edge scores against its node AtP.
/// </summary>
public class EdgeAttributionTests
{
    sealed class Setup : IDisposable
    {
        public HookedTransformer M { get; }
        public int[] Clean, Corrupted;
        public int Answer, Wrong;
        public EdgeGraph Graph;

        public Setup(string fixture)
        {
            M = HookedTransformer.Load(Fixtures.Dir(fixture));
            var exp = Fixtures.Json(fixture, "reference_experiments.json");
            int[] Ids(string k) => exp["tokens"]![k]!.AsArray().Select(t => (int)t!).ToArray();
            Clean = Ids("clean"); Corrupted = Ids("corrupted");
            Answer = (int)exp["answer_tokens"]!["clean"]!; Wrong = (int)exp["answer_tokens"]!["corrupted"]!;
            Graph = EdgeGraph.Of(M.Config);
        }

        public void Dispose() => M.Dispose();

        public double Ld(Tensor logits)
        {
            int T = logits.Shape[1], V = logits.Shape[2];
            return (double)logits.Data[(T - 1) * V + Answer] - logits.Data[(T - 1) * V + Wrong];
        }

        /// <summary>hook_embed of the corrupted run moved a fraction alpha of the way to the clean run's (EAP-IG's inputs).</summary>
        HookSet Interpolated(double alpha)
        {
            var hooks = new HookSet();
            if (alpha == 0) return hooks;
            var a = M.RunWithCache([Clean], HookNames.Embed).Cache[HookNames.Embed].Data;
            var b = M.RunWithCache([Corrupted], HookNames.Embed).Cache[HookNames.Embed].Data;
            return hooks.Add(HookNames.Embed, ctx => { for (int i = 0; i < ctx.Data.Length; i++) ctx.Data[i] = b[i] + (float)alpha * (a[i] - b[i]); });
        }

        /// <summary>The sender's output [T, d] in a run's cache.</summary>
        public float[] Output(Sender s, int[] ids)
        {
            var n = M.HookNames.Layers[Math.Max(0, s.Layer)];
            string hook = s.Kind switch { NodeKind.Input => HookNames.Embed, NodeKind.Mlp => n.MlpOut, _ => n.Result };
            var data = M.RunWithCache([ids], hook).Cache[hook].Data;
            if (s.Kind != NodeKind.Head) return data;
            int T = ids.Length, d = M.Config.DModel, H = M.Config.NHeads;
            var o = new float[T * d];
            for (int p = 0; p < T; p++) data.AsSpan((p * H + s.Head) * d, d).CopyTo(o.AsSpan(p * d, d));
            return o;
        }

        /// <summary>The logit difference of the corrupted run (embedding interpolated by alpha) whose receiver r reads
        /// its input shifted by t·delta, the rest of the model reading the stream unshifted.</summary>
        public double Shifted(Receiver r, float[] delta, double t, double alpha)
        {
            var n = r.Port == Port.Logits ? M.HookNames.Layers[^1] : M.HookNames.Layers[r.Layer];
            void Shift(HookContext ctx) { for (int i = 0; i < delta.Length; i++) ctx.Data[i] += (float)t * delta[i]; }
            if (r.Port == Port.Logits) return Ld(M.RunWithHooksAndCache([Corrupted], Interpolated(alpha).Add(n.ResidPost, Shift), _ => false).Logits);
            // A second run with the stream shifted where the receiver reads it; the receiver's own activation comes from there.
            string at = r.Port == Port.Mlp && Graph.Sequential ? n.ResidMid : n.ResidPre;   // a parallel block's MLP reads its input
            string take = r.Port switch { Port.Q => n.Q, Port.K => n.K, Port.V => n.V, _ => n.Ln2Normalized };
            var moved = M.Forward([Corrupted], new RunOptions { Hooks = Interpolated(alpha).Add(at, Shift), CacheFilter = x => x == take }).Cache[take].Data;
            var hooks = Interpolated(alpha).Add(take, ctx =>
            {
                if (r.Port == Port.Mlp) { moved.AsSpan(0, ctx.Data.Length).CopyTo(ctx.Data); return; }
                int heads = ctx.Shape[1], e = ctx.Shape[2];
                for (int p = 0; p < ctx.Shape[0]; p++) moved.AsSpan((p * heads + r.Index) * e, e).CopyTo(ctx.Data.Slice((p * heads + r.Index) * e, e));
            });
            return Ld(M.RunWithHooksAndCache([Corrupted], hooks, _ => false).Logits);
        }
    }

    /// <summary>Edges to check: the 8 strongest and 10 drawn with a fixed seed (each port kind appears among them).</summary>
    static List<int> Sample(EdgeGraph g, double[] scores)
    {
        var rng = new Random(11);
        var edges = CircuitResult.RankByMagnitude(scores).Take(8).ToList();
        edges.AddRange(Enumerable.Range(0, 10).Select(_ => rng.Next(g.Edges.Count)));
        foreach (var port in Enum.GetValues<Port>())
            edges.Add(Enumerable.Range(0, g.Edges.Count).Where(e => g.Receivers[g.Edges[e].Receiver].Port == port).MaxBy(e => Math.Abs(scores[e])));
        return edges.Distinct().ToList();
    }

    /// <summary>EAP and EAP-IG read the corrupted run's norm inputs: a backward that recomputes its blocks (gradient
    /// checkpointing) must still hand them over, and the scores must not change.</summary>
    [Theory]
    [InlineData("tiny-qwen2", 1)]
    [InlineData("tiny-gpt-neox", 2)]
    public void ScoresAreTheSameWhenTheBackwardRecomputesItsBlocks(string fixture, int igSteps)
    {
        using var s = new Setup(fixture);
        var (kept, _, _) = EdgeAttribution.Score(s.M, s.Graph, s.Clean, s.Corrupted, s.Answer, s.Wrong, igSteps);
        s.M.GradientActivationBytes = 1;                                  // one block per segment
        Assert.Equal(1, s.M.BackwardSegment(s.Corrupted.Length));
        var (recomputed, _, _) = EdgeAttribution.Score(s.M, s.Graph, s.Clean, s.Corrupted, s.Answer, s.Wrong, igSteps);
        for (int e = 0; e < kept.Length; e++)
            Assert.True(Math.Abs(kept[e] - recomputed[e]) <= 1e-6 * Math.Max(1, Math.Abs(kept[e])), $"edge {e}: {kept[e]} vs {recomputed[e]}");
    }

    [Theory]
    [InlineData("setcomp-demo", 1)]
    [InlineData("tiny-qwen2", 1)]
    [InlineData("tiny-gpt2", 1)]
    [InlineData("tiny-phi3", 1)]
    [InlineData("tiny-gpt-neox", 1)]   // parallel residual: a layer's MLP reads the block input, not its heads
    [InlineData("tiny-qwen3", 1)]
    [InlineData("setcomp-demo", 2)]
    public void EdgeScoresAreTheDerivativeAlongTheSendersDifference(string fixture, int igSteps)
    {
        using var s = new Setup(fixture);
        var (scores, _, _) = EdgeAttribution.Score(s.M, s.Graph, s.Clean, s.Corrupted, s.Answer, s.Wrong, igSteps);
        const double h = 1e-2;
        foreach (int e in Sample(s.Graph, scores))
        {
            var (si, ri) = s.Graph.Edges[e];
            var sender = s.Graph.Senders[si];
            var delta = s.Output(sender, s.Clean).Zip(s.Output(sender, s.Corrupted), (a, b) => a - b).ToArray();
            double expected = 0;
            for (int k = 0; k < igSteps; k++)   // EAP-IG: the mean derivative over inputs k/m of the way to clean
            {
                double alpha = (double)k / igSteps;
                double Central(double step) => (s.Shifted(s.Graph.Receivers[ri], delta, step, alpha) - s.Shifted(s.Graph.Receivers[ri], delta, -step, alpha)) / (2 * step);
                // Richardson: the h² term of two central differences cancels (the interpolated runs are strongly curved).
                expected += (4 * Central(h / 2) - Central(h)) / 3 / igSteps;
            }
            Assert.True(Math.Abs(expected - scores[e]) <= 5e-3 + 1e-2 * Math.Abs(expected),
                $"{fixture} {s.Graph.Describe(e)}: finite difference {expected:g6}, EAP {scores[e]:g6}");
        }
    }

    [Theory]
    [InlineData("setcomp-demo")]
    [InlineData("tiny-qwen2")]
    [InlineData("tiny-gpt2")]
    [InlineData("tiny-gpt-neox")]
    [InlineData("tiny-qwen3")]
    public void ASendersEdgeScoresSumToItsNodeAtp(string fixture)
    {
        using var s = new Setup(fixture);
        var g = s.Graph;
        var (scores, clean, corrupted) = EdgeAttribution.Score(s.M, g, s.Clean, s.Corrupted, s.Answer, s.Wrong);
        var atp = AttributionPatching.Run(s.M, s.Clean, s.Corrupted, s.Answer, s.Wrong);
        double gap = clean - corrupted;
        Assert.Equal(atp.CleanLogitDiff, clean, 4);
        Assert.Equal(atp.CorruptedLogitDiff, corrupted, 4);
        var bySender = new double[g.Senders.Count];
        var intoLogits = 0.0;
        for (int e = 0; e < scores.Length; e++)
        {
            bySender[g.Edges[e].Sender] += scores[e];
            if (g.Receivers[g.Edges[e].Receiver].Port == Port.Logits) intoLogits += scores[e];
        }
        void Close(double expected, double actual, string what) =>
            Assert.True(Math.Abs(expected - actual) <= 1e-3 * Math.Max(1, Math.Abs(expected)), $"{fixture} {what}: node AtP {expected:g6}, Σ edges {actual:g6}");
        for (int l = 0; l < g.Layers; l++)
        {
            for (int h = 0; h < g.Heads; h++) Close(atp.HeadZAllRecovery[l][h] * gap, bySender[g.HeadSender(l, h)], $"a{l}.h{h}");
            Close(atp.MlpOutAllRecovery[l] * gap, bySender[g.MlpSender(l)], $"m{l}");
        }
        // The input: AtP of the embedding (learned positions are the same in both runs).
        Close(atp.ResidPreRecovery[0].Sum() * gap, bySender[EdgeGraph.InputSender], "input");
        // Into the logits: AtP of the final residual stream, Σ grad · (clean − corrupted).
        string final = s.M.HookNames.Layers[^1].ResidPost;
        var grad = s.M.Backward(s.Corrupted, Metrics.LogitDiff(s.Answer, s.Wrong), x => x == final).HookGrads[final].Data;
        var a = s.M.RunWithCache([s.Clean], final).Cache[final].Data; var b = s.M.RunWithCache([s.Corrupted], final).Cache[final].Data;
        Close(grad.Select((x, i) => (double)x * (a[i] - b[i])).Sum(), intoLogits, "edges into the logits");
    }

    [Fact]
    public void TheGraphConnectsEverySenderToTheReceiversAfterIt()
    {
        var seq = new EdgeGraph(2, 2, 1, sequential: true);
        Assert.Equal(1 + 2 * 3, seq.Senders.Count);
        Assert.Equal(2 * (2 + 1 + 1 + 1) + 1, seq.Receivers.Count);
        Assert.True(seq.EdgeIndex(seq.HeadSender(0, 1), seq.ReceiverIndex(Port.Mlp, 0, -1)) >= 0);      // head → its own layer's MLP
        Assert.True(seq.EdgeIndex(seq.HeadSender(0, 1), seq.ReceiverIndex(Port.Q, 0, 0)) < 0);         // not its own layer's heads
        Assert.True(seq.EdgeIndex(seq.MlpSender(0), seq.ReceiverIndex(Port.K, 1, 0)) >= 0);
        Assert.True(seq.EdgeIndex(seq.MlpSender(1), seq.ReceiverIndex(Port.Mlp, 1, -1)) < 0);
        var par = new EdgeGraph(2, 2, 1, sequential: false);
        Assert.True(par.EdgeIndex(par.HeadSender(0, 1), par.ReceiverIndex(Port.Mlp, 0, -1)) < 0);      // parallel: MLP reads the block input
        Assert.Equal(seq.Edges.Count - 2 * 2, par.Edges.Count);                                       // 2 layers × 2 heads
        Assert.Equal("a1.kv0", seq.Receivers[seq.ReceiverIndex(Port.K, 1, 0)].NodeName(seq.Grouped));
        Assert.Equal("a0.h1 → a1.kv0<v>", seq.Describe(seq.EdgeIndex(seq.HeadSender(0, 1), seq.ReceiverIndex(Port.V, 1, 0))));
        // Pruning: an edge out of a head nothing feeds, and one into a head that reaches nothing, go.
        int inputToHead = seq.EdgeIndex(EdgeGraph.InputSender, seq.ReceiverIndex(Port.Q, 0, 0));
        int headToLogits = seq.EdgeIndex(seq.HeadSender(0, 0), seq.ReceiverIndex(Port.Logits, 2, -1));
        int orphan = seq.EdgeIndex(seq.HeadSender(0, 1), seq.ReceiverIndex(Port.Logits, 2, -1));
        int deadEnd = seq.EdgeIndex(EdgeGraph.InputSender, seq.ReceiverIndex(Port.Q, 1, 1));
        Assert.Equal(new[] { inputToHead, headToLogits }, seq.Prune([inputToHead, headToLogits, orphan, deadEnd]).Order().ToArray());
    }
}
