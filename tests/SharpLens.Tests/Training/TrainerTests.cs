using System.Text.RegularExpressions;
using SharpLens.Datasets;
using SharpLens.Model;
using SharpLens.Statistics;
using SharpLens.Tests.Support;
using SharpLens.Tokenization;
using SharpLens.Training;
using Xunit;

namespace SharpLens.Tests.Training;

/// <summary>The trainer on a tiny model: determinism, learning, checkpoints that load and resume.</summary>
public class TrainerTests
{
    static readonly HfTokenizer Tok = HfTokenizer.Load(Fixtures.DemoModelDir);

    static TrainOptions Tiny(int steps = 4, ulong seed = 0) =>
        new() { Layers = 1, DModel = 16, Heads = 2, DMlp = 32, Steps = steps, Batch = 8, WarmupSteps = 2, Seed = seed, EvalSize = 16, EvalEvery = 0 };

    static byte[] Bytes(ModelParameters p) => p.All.SelectMany(t => t.Data.SelectMany(BitConverter.GetBytes)).ToArray();

    [Fact]
    public void SameSeedGivesTheSameBytesAndAnotherSeedDoesNot()
    {
        var a = new Trainer(Tiny(), Tok, Fixtures.DemoModelDir); a.Run();
        var b = new Trainer(Tiny(), Tok, Fixtures.DemoModelDir); b.Run();
        var c = new Trainer(Tiny(seed: 1), Tok, Fixtures.DemoModelDir); c.Run();
        Assert.Equal(Bytes(a.Parameters), Bytes(b.Parameters));
        Assert.NotEqual(Bytes(a.Parameters), Bytes(c.Parameters));
        string da = Fixtures.TempDir("a"), db = Fixtures.TempDir("b");
        a.Save(da); b.Save(db);
        foreach (var f in new[] { "model.safetensors", "optimizer.safetensors", "config.json", Trainer.StateFile })
            Assert.Equal(File.ReadAllBytes(Path.Combine(da, f)), File.ReadAllBytes(Path.Combine(db, f)));
    }

    [Fact]
    public void TinyRunLearnsAndItsCheckpointLoadsEverywhere()
    {
        var t = new Trainer(Tiny(60) with { Batch = 16, LearningRate = 1e-2, WarmupSteps = 5, EvalSize = 64 }, Tok, Fixtures.DemoModelDir);
        double accuracy = t.Run();
        double first = t.Log.Take(5).Average(e => e.Loss), last = t.Log.TakeLast(5).Average(e => e.Loss);
        Assert.True(last < first - 0.5, $"loss {first:0.000} → {last:0.000}");
        Assert.InRange(accuracy, 0, 1);
        Assert.Equal(accuracy, t.Log[^1].HeldOutAccuracy);

        string dir = Fixtures.TempDir("tiny");
        t.Save(dir);
        using var m = HookedTransformer.FromPretrained(dir);
        Assert.Equal(1, m.Config.NLayers);
        var (prompts, answers) = t.HeldOutSet();
        // The reloaded model answers the held-out prompts exactly as the trainer scored them.
        int hits = 0;
        for (int i = 0; i < prompts.Length; i++)
        {
            var logits = m.Run([prompts[i]]);
            int V = m.Config.VocabSize, T = prompts[i].Length;
            if (System.Numerics.Tensors.TensorPrimitives.IndexOfMax(logits.Data.AsSpan((T - 1) * V, V)) == answers[i]) hits++;
        }
        Assert.Equal(accuracy, (double)hits / prompts.Length, 9);
        Assert.Equal(ModelParameters.FromCheckpoint(dir).All.Select(p => p.Data), t.Parameters.All.Select(p => p.Data));
    }

    [Fact]
    public void ResumedRunEndsWithTheSameBytesAsAnUninterruptedOne()
    {
        var straight = new Trainer(Tiny(6), Tok, Fixtures.DemoModelDir);
        straight.Run();
        var half = new Trainer(Tiny(6), Tok, Fixtures.DemoModelDir);
        string dir = Fixtures.TempDir("resume");
        half.Run(checkpoint: x => x.Save(dir), checkpointEvery: 3);
        var resumed = Trainer.Resume(dir);
        Assert.Equal(3, resumed.Step);
        resumed.Run();
        Assert.Equal(6, resumed.Step);
        Assert.Equal(Bytes(straight.Parameters), Bytes(resumed.Parameters));
        Assert.Equal(straight.Optimizer.ExpAvgSq.All.SelectMany(p => p.Data), resumed.Optimizer.ExpAvgSq.All.SelectMany(p => p.Data));
    }

    [Fact]
    public void HeldOutPromptsAreNeverTrainedOn()
    {
        var t = new Trainer(Tiny() with { EvalSize = 40 }, Tok, null);
        var held = t.HeldOutSet().Prompts.Select(p => string.Join(',', p)).ToHashSet();
        Assert.Equal(40, t.HeldOutSet().Prompts.Length);
        for (int s = 0; s < 20; s++)
            foreach (var p in t.TrainingBatch(s).Prompts)
            {
                Assert.DoesNotContain(string.Join(',', p), held);
                Assert.False(Trainer.IsHeldOut(Tok.Decode(p)));
            }
        Assert.All(t.HeldOutSet().Prompts, p => Assert.True(Trainer.IsHeldOut(Tok.Decode(p))));
    }

    [Fact]
    public void ExamplesAreSetcompPyPrompts()
    {
        var rng = new SeededRandom(4);
        for (int i = 0; i < 200; i++)
        {
            var (prompt, answer) = SetCompletionTask.Example(rng);
            var m = Regex.Match(prompt, @"^(.+) has (three|four|five) (\w+), (.+) - (.+) and 1$");
            Assert.True(m.Success, prompt);
            var declared = m.Groups[4].Value.Replace(" and ", ", ").Split(", ");
            var listed = Regex.Matches(m.Groups[5].Value, @"1 (\w+)").Select(x => x.Groups[1].Value).ToArray();
            Assert.Equal(declared.Length, Array.IndexOf(["three", "four", "five"], m.Groups[2].Value) + 3);
            Assert.Equal(declared.Length - 1, listed.Length);
            Assert.Equal(declared.Except(listed).Single(), answer.TrimStart());
            Assert.StartsWith(" ", answer);
        }
    }

    [Fact]
    public void BadOptionsAreUsageErrors()
    {
        foreach (var bad in new[] { Tiny() with { Steps = 0 }, Tiny() with { Batch = 0 }, Tiny() with { LearningRate = double.NaN },
                     Tiny() with { DModel = 30, Heads = 4 }, Tiny() with { DModel = 12, Heads = 4 }, Tiny() with { Layers = 0 } })
        {
            var e = Assert.Throws<SharpLensException>(() => new Trainer(bad, Tok, null));
            Assert.Equal(ExitCode.Usage, e.Code);
        }
        string foreign = Fixtures.TempDir("foreign");
        File.WriteAllText(Path.Combine(foreign, "notes.txt"), "mine");
        var t = new Trainer(Tiny(1), Tok, null);
        Assert.Equal(ExitCode.Usage, Assert.Throws<SharpLensException>(() => t.Save(foreign)).Code);
        Assert.Equal("mine", File.ReadAllText(Path.Combine(foreign, "notes.txt")));
        Assert.Equal(ExitCode.Checkpoint, Assert.Throws<SharpLensException>(() => Trainer.Resume(Fixtures.DemoModelDir)).Code);
    }
}
