using System.Diagnostics;
using SharpLens.Datasets;
using SharpLens.Statistics;
using SharpLens.Tokenization;

namespace SharpLens.Training;

/// <summary>Where a run stands, reported after every step (and after each evaluation).</summary>
/// <param name="Loss">the step's mean cross-entropy of the answer token</param>
/// <param name="HeldOutAccuracy">the latest held-out accuracy (null before the first evaluation)</param>
public sealed record TrainProgress(int Step, int Steps, double Loss, double? HeldOutAccuracy, double StepsPerSecond);

/// <summary>One line of the training log: the step's loss and batch accuracy, and the held-out accuracy when it was evaluated.</summary>
public sealed record TrainLogEntry(int Step, double Loss, double BatchAccuracy, double? HeldOutAccuracy);

/// <summary>
/// Trains a Qwen2-architecture model on the set-completion task, as <c>docs/reference/setcomp.py</c> trained the embedded
/// demo model: batches of fresh random prompts (<see cref="SetCompletionTask.Example"/>), cross-entropy of the answer token
/// at the final position, AdamW with warm-up and cosine decay. Deterministic: step s's batch comes from (seed, s) alone
/// and every kernel sums in a fixed order, so the same seed gives the same bytes (and a resumed run the same bytes as an
/// uninterrupted one). One prompt in 16 (by a hash of its text) is held out: never trained on, and the only prompts the
/// held-out accuracy is measured on.
/// </summary>
public sealed partial class Trainer
{
    const int HeldOutBuckets = 16;
    readonly HfTokenizer _tok;
    readonly string? _tokenizerDir;
    readonly TrainingPass _pass;
    readonly ModelParameters _grads;
    readonly List<TrainLogEntry> _log = [];
    (int[][] Prompts, int[] Answers)? _heldOut;

    public TrainOptions Options { get; private set; }
    public ModelParameters Parameters { get; }
    public AdamW Optimizer { get; }
    /// <summary>Steps taken (the next step's 0-based index).</summary>
    public int Step { get; private set; }
    public IReadOnlyList<TrainLogEntry> Log => _log;

    /// <summary>A fresh model of <paramref name="options"/>' shape, initialised from its seed, for the tokenizer's
    /// vocabulary (rounded up to a multiple of 64, as setcomp.py does). <paramref name="tokenizerDir"/>: the folder
    /// whose tokenizer files a saved checkpoint copies (null: the checkpoint is saved without them).</summary>
    public Trainer(TrainOptions options, HfTokenizer tokenizer, string? tokenizerDir)
        : this(options, tokenizer, tokenizerDir, Fresh(options, tokenizer)) { }

    static ModelParameters Fresh(TrainOptions o, HfTokenizer tok)
    {
        o.Validate();
        int vocab = (tok.MaxTokenId + 1 + 63) / 64 * 64;
        return ModelParameters.Initialize(ModelParameters.Qwen2ConfigJson(o.Layers, o.DModel, o.Heads, o.EffectiveDMlp, vocab), Mix(o.Seed, 0x494E4954));
    }

    Trainer(TrainOptions options, HfTokenizer tokenizer, string? tokenizerDir, ModelParameters parameters)
    {
        options.Validate();
        Options = options; _tok = tokenizer; _tokenizerDir = tokenizerDir; Parameters = parameters;
        if (tokenizer.MaxTokenId >= parameters.Config.VocabSize)
            throw SharpLensException.Input($"the tokenizer has ids up to {tokenizer.MaxTokenId}, but the model's vocabulary is {parameters.Config.VocabSize}");
        _pass = new TrainingPass(parameters);
        _grads = parameters.ZerosLike();
        Optimizer = new AdamW(parameters) { WeightDecay = options.WeightDecay };
    }

    /// <summary>The batch of step <paramref name="step"/>: <see cref="TrainOptions.Batch"/> prompts that are not held out.</summary>
    public (int[][] Prompts, int[] Answers) TrainingBatch(int step) =>
        Draw(new SeededRandom(Mix(Options.Seed, 0x5354455000000000UL ^ (ulong)step)), Options.Batch, heldOut: false);

    /// <summary>The held-out set: <see cref="TrainOptions.EvalSize"/> prompts of the held-out sixteenth, fixed by the seed.</summary>
    public (int[][] Prompts, int[] Answers) HeldOutSet() =>
        _heldOut ??= Draw(new SeededRandom(Mix(Options.Seed, 0x4845524F)), Options.EvalSize, heldOut: true);

    /// <summary>Whether a prompt belongs to the held-out sixteenth (FNV-1a of its UTF-16 text).</summary>
    public static bool IsHeldOut(string prompt)
    {
        ulong h = 14695981039346656037UL;
        foreach (char c in prompt) { h ^= c; h *= 1099511628211UL; }
        return h % HeldOutBuckets == 0;
    }

    (int[][] Prompts, int[] Answers) Draw(SeededRandom rng, int n, bool heldOut)
    {
        var prompts = new int[n][]; var answers = new int[n];
        for (int i = 0; i < n;)
        {
            var (prompt, answer) = SetCompletionTask.Example(rng);
            if (IsHeldOut(prompt) != heldOut) continue;
            prompts[i] = _tok.Encode(prompt).ToArray();
            answers[i] = _tok.TryGetAnswerToken(prompt, answer)
                ?? throw SharpLensException.Input($"the tokenizer splits the answer {IO.UntrustedText.Quote(answer)} after its prompt into " +
                                                  $"{_tok.DescribePieces(prompt, answer)}; training needs a tokenizer whose item names are single tokens (the demo model's)");
            i++;
        }
        return (prompts, answers);
    }

    /// <summary>One optimisation step: the batch's loss and gradients, then an AdamW update at the scheduled rate.</summary>
    public TrainLogEntry TrainStep()
    {
        var (prompts, answers) = TrainingBatch(Step);
        foreach (var g in _grads.All) Array.Clear(g.Data);
        var (loss, correct) = _pass.LossAndGradients(prompts, answers, _grads);
        if (!double.IsFinite(loss)) throw SharpLensException.Input($"the loss is not finite at step {Step} (lower --lr?)");
        Optimizer.Step(Parameters, _grads, Options.LearningRateAt(Step));
        Step++;
        var entry = new TrainLogEntry(Step, loss, (double)correct / prompts.Length, null);
        _log.Add(entry);
        return entry;
    }

    /// <summary>The fraction of held-out prompts whose answer is the model's top token at the final position.</summary>
    public double EvaluateHeldOut()
    {
        var (prompts, answers) = HeldOutSet();
        if (prompts.Length == 0) return double.NaN;
        return Accuracy(_pass, prompts, answers, Parameters.Config.VocabSize);
    }

    /// <summary>Top-1 accuracy of <paramref name="answers"/> at the prompts' final positions, 64 prompts at a time.</summary>
    public static double Accuracy(TrainingPass pass, int[][] prompts, int[] answers, int vocab)
    {
        int hits = 0;
        for (int s = 0; s < prompts.Length; s += 64)
        {
            int n = Math.Min(64, prompts.Length - s);
            var logits = pass.FinalLogits(prompts[s..(s + n)]);
            for (int i = 0; i < n; i++)
                if (System.Numerics.Tensors.TensorPrimitives.IndexOfMax(logits.AsSpan(i * vocab, vocab)) == answers[s + i]) hits++;
        }
        return (double)hits / prompts.Length;
    }

    /// <summary>
    /// Trains up to <see cref="TrainOptions.Steps"/>, evaluating every <see cref="TrainOptions.EvalEvery"/> steps and at the
    /// end; <paramref name="checkpoint"/> is called every <paramref name="checkpointEvery"/> steps (0: never) so that an
    /// interrupted run can be resumed. Returns the final held-out accuracy (NaN with no held-out set).
    /// </summary>
    public double Run(IProgress<TrainProgress>? progress = null, CancellationToken ct = default,
        Action<Trainer>? checkpoint = null, int checkpointEvery = 0)
    {
        var sw = Stopwatch.StartNew();
        int first = Step;
        double? accuracy = null;
        while (Step < Options.Steps)
        {
            ct.ThrowIfCancellationRequested();
            var entry = TrainStep();
            if (Options.EvalSize > 0 && ((Options.EvalEvery > 0 && Step % Options.EvalEvery == 0) || Step == Options.Steps))
            {
                accuracy = EvaluateHeldOut();
                _log[^1] = entry = entry with { HeldOutAccuracy = accuracy };
            }
            if (checkpoint != null && checkpointEvery > 0 && Step % checkpointEvery == 0 && Step < Options.Steps) checkpoint(this);
            progress?.Report(new TrainProgress(Step, Options.Steps, entry.Loss, accuracy, (Step - first) / Math.Max(sw.Elapsed.TotalSeconds, 1e-9)));
        }
        return accuracy ?? double.NaN;
    }

    /// <summary>SplitMix64 of the seed combined with a salt: independent streams for init, each step's batch and the held-out set.</summary>
    internal static ulong Mix(ulong seed, ulong salt)
    {
        ulong z = seed * 0x9E3779B97F4A7C15UL + salt + 0x632BE59BD9B4E019UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
