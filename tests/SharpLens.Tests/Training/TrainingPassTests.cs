using SharpLens.Model;
using SharpLens.Tests.Support;
using SharpLens.Tokenization;
using SharpLens.Training;
using Xunit;

namespace SharpLens.Tests.Training;

/// <summary>The batched training pass against the single-prompt backward pass (itself checked against PyTorch autograd
/// in ReferenceGradTests) and against itself one prompt at a time.</summary>
public class TrainingPassTests
{
    internal static (int[][] Prompts, int[] Answers) Examples(HfTokenizer tok, int n, ulong seed)
    {
        var rng = new global::SharpLens.Statistics.SeededRandom(seed);
        var prompts = new int[n][]; var answers = new int[n];
        for (int i = 0; i < n; i++)
        {
            var (p, a) = global::SharpLens.Datasets.SetCompletionTask.Example(rng);
            prompts[i] = tok.Encode(p).ToArray();
            answers[i] = tok.TryGetAnswerToken(p, a)!.Value;
        }
        return (prompts, answers);
    }

    /// <summary>The cross-entropy of one answer at the final position, as a metric of the single-prompt backward pass.</summary>
    static LogitMetric AnswerLoss(int answer) => (logits, d) =>
    {
        int T = logits.Shape[1], V = logits.Shape[2];
        var row = logits.Data.AsSpan((T - 1) * V, V);
        var dRow = new float[V];
        var (loss, _) = TrainingPass.CrossEntropy(row.ToArray(), [answer], 1, V, dRow);
        dRow.CopyTo(d.Slice((T - 1) * V, V));
        return loss;
    };

    static void AssertClose(string what, float[] expected, float[] actual, double rel = 1e-3)
    {
        double scale = expected.Select(Math.Abs).DefaultIfEmpty(0).Max(), worst = 0;
        for (int i = 0; i < expected.Length; i++) worst = Math.Max(worst, Math.Abs(expected[i] - actual[i]));
        Assert.True(worst <= rel * scale + 1e-6, $"{what}: |Δ| {worst:g3} against a scale of {scale:g3}");
    }

    [Fact]
    public void BatchGradientIsTheMeanOfThePerPromptGradientsOfTheBackwardPass()
    {
        // The demo model's own weights: 4 layers, real prompts of different lengths packed in one batch.
        string dir = Fixtures.DemoModelDir;
        var tok = HfTokenizer.Load(dir);
        var (prompts, answers) = Examples(tok, 5, 11);
        Assert.True(prompts.Select(p => p.Length).Distinct().Count() > 1, "the batch should mix prompt lengths");
        var parameters = ModelParameters.FromCheckpoint(dir);
        var grads = parameters.ZerosLike();
        var (loss, _) = new TrainingPass(parameters).LossAndGradients(prompts, answers, grads);

        using var m = HookedTransformer.Load(dir);
        var sum = new Dictionary<string, float[]>();
        double lossSum = 0;
        for (int i = 0; i < prompts.Length; i++)
        {
            var r = m.Backward(prompts[i], AnswerLoss(answers[i]), _ => false, weights: true);
            lossSum += r.Metric;
            foreach (var (name, g) in r.Weights!.ByCheckpointName(m.Config))
            {
                if (!sum.TryGetValue(name, out var acc)) sum[name] = acc = new float[g.Data.Length];
                for (int j = 0; j < acc.Length; j++) acc[j] += g.Data[j] / prompts.Length;
            }
        }
        Assert.Equal(lossSum / prompts.Length, loss, 4);
        Assert.Equal(sum.Keys.Order(), parameters.All.Select(p => p.Name).Order());
        foreach (var p in grads.All) AssertClose(p.Name, sum[p.Name], p.Data);
        Assert.Contains(grads.All, p => p.Data.Any(x => x != 0));
    }

    [Fact]
    public void BatchGradientIsTheMeanOfItsPromptsGradientsAndFinalLogitsMatchTheModel()
    {
        var tok = HfTokenizer.Load(Fixtures.DemoModelDir);
        var p = ModelParameters.Initialize(ModelParameters.Qwen2ConfigJson(2, 32, 2, 48, 512), 7);
        var (prompts, answers) = Examples(tok, 6, 2);
        var pass = new TrainingPass(p);
        var batch = p.ZerosLike();
        pass.LossAndGradients(prompts, answers, batch);
        var each = p.ZerosLike();
        for (int i = 0; i < prompts.Length; i++) pass.LossAndGradients([prompts[i]], [answers[i]], each);
        for (int t = 0; t < batch.All.Count; t++)
            AssertClose(batch.All[t].Name, each.All[t].Data.Select(x => x / prompts.Length).ToArray(), batch.All[t].Data, 1e-4);

        // The same weights written as a checkpoint and loaded by HookedTransformer give the same final logits.
        string dir = Fixtures.TempDir("trained");
        var trainer = new Trainer(new TrainOptions { Layers = 2, DModel = 32, Heads = 2, DMlp = 48, Steps = 1, Batch = 4, EvalSize = 0 }, tok, Fixtures.DemoModelDir);
        trainer.TrainStep();
        trainer.Save(dir);
        using var m = HookedTransformer.FromPretrained(dir);
        var logits = new TrainingPass(trainer.Parameters).FinalLogits(prompts);
        int V = m.Config.VocabSize;
        for (int i = 0; i < prompts.Length; i++)
        {
            var full = m.Run([prompts[i]]);
            int T = prompts[i].Length;
            AssertClose($"prompt {i}", full.Data.AsSpan((T - 1) * V, V).ToArray(), logits.AsSpan(i * V, V).ToArray(), 1e-4);
        }
    }
}
