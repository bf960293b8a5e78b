namespace SharpLens.Training;

/// <summary>
/// Hyper-parameters of <see cref="Trainer"/>. The defaults are the demo model's shape and <c>docs/reference/setcomp.py</c>'s
/// settings: 4 layers, d_model 128, 4 heads, d_mlp 3·d_model; AdamW lr 3e-3 (linear warm-up over 200 steps, then cosine
/// to 0), weight decay 0.01, 3,000 steps of 64 prompts.
/// </summary>
public sealed record TrainOptions
{
    public int Steps { get; init; } = 3000;
    public int Batch { get; init; } = 64;
    public double LearningRate { get; init; } = 3e-3;
    public double WeightDecay { get; init; } = 0.01;
    public int WarmupSteps { get; init; } = 200;
    public ulong Seed { get; init; }
    public int Layers { get; init; } = 4;
    public int DModel { get; init; } = 128;
    public int Heads { get; init; } = 4;
    /// <summary>0: 3 · <see cref="DModel"/> (the demo's 384).</summary>
    public int DMlp { get; init; }
    /// <summary>Held-out prompts scored at each evaluation (0: none).</summary>
    public int EvalSize { get; init; } = 500;
    /// <summary>Evaluate every this many steps and at the end (0: only at the end).</summary>
    public int EvalEvery { get; init; } = 200;

    public int EffectiveDMlp => DMlp > 0 ? DMlp : 3 * DModel;

    /// <summary>Every option in range, or a usage error naming the first that is not.</summary>
    /// <exception cref="SharpLensException">(<see cref="ExitCode.Usage"/>).</exception>
    public void Validate()
    {
        static void Require(bool ok, string message) { if (!ok) throw SharpLensException.Usage(message); }
        Require(Steps >= 1, $"--steps must be at least 1 (got {Steps})");
        Require(Batch is >= 1 and <= 4096, $"--batch must be between 1 and 4096 (got {Batch})");
        Require(double.IsFinite(LearningRate) && LearningRate > 0 && LearningRate <= 1, $"--lr must be a number in (0, 1] (got {LearningRate})");
        Require(double.IsFinite(WeightDecay) && WeightDecay >= 0 && WeightDecay < 1, $"--weight-decay must be in [0, 1) (got {WeightDecay})");
        Require(WarmupSteps >= 0, $"--warmup must not be negative (got {WarmupSteps})");
        Require(Layers is >= 1 and <= 64, $"--layers must be between 1 and 64 (got {Layers})");
        Require(Heads >= 1, $"--heads must be at least 1 (got {Heads})");
        Require(DModel is >= 2 and <= 4096, $"--d-model must be between 2 and 4096 (got {DModel})");
        Require(DModel % Heads == 0 && DModel / Heads % 2 == 0,
            $"--d-model ({DModel}) must be a multiple of --heads ({Heads}) with an even head size (rotary embeddings rotate pairs)");
        Require(DMlp >= 0 && DMlp <= 65536, $"d_mlp must be between 1 and 65536 (got {DMlp})");
        Require(EvalSize >= 0 && EvalSize <= 1_000_000, $"--eval must be between 0 and 1,000,000 (got {EvalSize})");
        Require(EvalEvery >= 0, $"--eval-every must not be negative (got {EvalEvery})");
    }

    /// <summary>The learning rate of step <paramref name="step"/> (0-based), as setcomp.py schedules it:
    /// peak · min(1, (step + 1) / warm-up) · ½(1 + cos(π · step / steps)).</summary>
    public double LearningRateAt(int step) =>
        LearningRate * (WarmupSteps > 0 ? Math.Min(1.0, (step + 1.0) / WarmupSteps) : 1.0) * 0.5 * (1 + Math.Cos(Math.PI * step / Steps));
}
