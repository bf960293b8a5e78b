using System.CommandLine;
using System.Diagnostics;
using SharpLens.IO;
using SharpLens.Tokenization;
using SharpLens.Training;
using Spectre.Console;

namespace SharpLens.Cli.Commands;

/// <summary>
/// <c>sharplens train --out DIR [--steps N] [--batch N] [--lr X] [--seed N] [--layers N] [--d-model N] [--heads N]
/// [--eval N] [--eval-every N] [--save-every N] [--tokenizer DIR] [--resume DIR]</c>: trains a Qwen2-architecture model
/// on the set-completion task as setcomp.py trained the demo model (<see cref="Trainer"/>), with a progress bar on stderr,
/// and writes a Hugging Face checkpoint every command can load.
/// </summary>
internal static class TrainCommand
{
    public static Command Create()
    {
        var d = new TrainOptions();
        var outDir = new Option<string?>("--out") { Description = "checkpoint folder to write (absent, empty, or an earlier `train` checkpoint; default with --resume: the resumed folder)" };
        var steps = new Option<int?>("--steps") { Description = $"optimisation steps in all (default {d.Steps})" };
        var batch = new Option<int?>("--batch") { Description = $"prompts per step (default {d.Batch})" };
        var lr = new Option<double?>("--lr") { Description = $"peak AdamW learning rate, warm-up then cosine decay (default {d.LearningRate})" };
        var seed = new Option<ulong?>("--seed") { Description = "seed of the initial weights and of every batch (default 0)" };
        var layers = new Option<int?>("--layers") { Description = $"decoder layers (default {d.Layers})" };
        var dModel = new Option<int?>("--d-model") { Description = $"residual width (default {d.DModel}; d_mlp is 3×)" };
        var heads = new Option<int?>("--heads") { Description = $"attention heads (default {d.Heads})" };
        var eval = new Option<int?>("--eval") { Description = $"held-out prompts scored for accuracy (default {d.EvalSize}; 0: none)" };
        var evalEvery = new Option<int?>("--eval-every") { Description = $"evaluate every N steps and at the end (default {d.EvalEvery}; 0: only at the end)" };
        var saveEvery = new Option<int>("--save-every") { Description = "also write the checkpoint every N steps, to resume an interrupted run (default 500; 0: only at the end)", DefaultValueFactory = _ => 500 };
        var tokenizer = new Option<string?>("--tokenizer") { Description = "folder whose tokenizer.json the model uses (default: the embedded demo model's)" };
        var resume = new Option<string?>("--resume") { Description = "continue from a checkpoint `train` wrote (its options, weights, optimizer state and step); --steps may raise the total" };
        var cmd = new Command("train", "Train a small Qwen2 model on the set-completion task (AdamW; a Hugging Face checkpoint)")
            { outDir, steps, batch, lr, seed, layers, dModel, heads, eval, evalEvery, saveEvery, tokenizer, resume };
        cmd.SetAction(p => CliHost.Guard(ct =>
        {
            if (p.GetValue(saveEvery) < 0) throw SharpLensException.Usage($"--save-every must not be negative (got {p.GetValue(saveEvery)})");
            Trainer trainer;
            string dest;
            if (p.GetValue(resume) is { } from)
            {
                var fixedByCheckpoint = new Option[] { batch, lr, seed, layers, dModel, heads, tokenizer }.Where(o => p.GetResult(o) != null).Select(o => o.Name).ToList();
                if (fixedByCheckpoint.Count > 0)
                    throw SharpLensException.Usage($"{string.Join(", ", fixedByCheckpoint)} cannot change when resuming: the checkpoint's own values are used (only --steps, --eval, --eval-every, --out may be given)");
                trainer = Trainer.Resume(from, p.GetValue(steps), p.GetValue(eval), p.GetValue(evalEvery));
                dest = Path.GetFullPath(p.GetValue(outDir) ?? from);
                Trainer.CheckDestination(dest);
            }
            else
            {
                dest = Path.GetFullPath(p.GetValue(outDir) ?? throw SharpLensException.Usage("--out is required: the folder to write the trained checkpoint to"));
                var options = new TrainOptions
                {
                    Steps = p.GetValue(steps) ?? d.Steps, Batch = p.GetValue(batch) ?? d.Batch, LearningRate = p.GetValue(lr) ?? d.LearningRate,
                    Seed = p.GetValue(seed) ?? 0, Layers = p.GetValue(layers) ?? d.Layers, DModel = p.GetValue(dModel) ?? d.DModel,
                    Heads = p.GetValue(heads) ?? d.Heads, EvalSize = p.GetValue(eval) ?? d.EvalSize, EvalEvery = p.GetValue(evalEvery) ?? d.EvalEvery,
                };
                options.Validate();                       // every option checked before anything is loaded or written
                Trainer.CheckDestination(dest);
                string tokDir = CliHost.ResolveModel(p.GetValue(tokenizer), ct);
                trainer = new Trainer(options, HfTokenizer.Load(tokDir), tokDir);
            }
            return Train(trainer, dest, p.GetValue(saveEvery), ct);
        }));
        return cmd;
    }

    static int Train(Trainer trainer, string dest, int saveEvery, CancellationToken ct)
    {
        var o = trainer.Options;
        var c = trainer.Parameters.Config;
        Console.Error.WriteLine($"training {c.NLayers} layers, d_model {c.DModel}, {c.NHeads} heads, d_mlp {c.DMlp}, vocab {c.VocabSize} " +
                                $"({trainer.Parameters.Count:N0} parameters): steps {trainer.Step}→{o.Steps} of {o.Batch} prompts, lr {o.LearningRate}, seed {o.Seed} → {dest}");
        var sw = Stopwatch.StartNew();
        int first = trainer.Step;
        int saved = -1;
        Action<Trainer> save = t => { t.Save(dest); saved = t.Step; };
        try { return Run(trainer, dest, saveEvery, save, first, sw, ct); }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            throw new SharpLensException(ExitCode.Interrupted, $"stopped by {CliHost.StoppedBy} at step {trainer.Step}; " + (saved >= 0
                ? $"the checkpoint of step {saved} in {UntrustedText.Escape(dest)} is intact (continue with --resume)"
                : "no checkpoint was written yet"));
        }
    }

    static int Run(Trainer trainer, string dest, int saveEvery, Action<Trainer> save, int first, Stopwatch sw, CancellationToken ct)
    {
        var o = trainer.Options;
        double accuracy;
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        if (console.Profile.Capabilities.Interactive)
        {
            accuracy = 0;
            console.Progress().AutoClear(true)
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
                .Start(ctx =>
                {
                    var task = ctx.AddTask("training", maxValue: o.Steps);
                    task.Value = trainer.Step;
                    accuracy = trainer.Run(new SyncProgress(pr =>
                    {
                        task.Value = pr.Step;
                        task.Description = $"step {pr.Step}/{pr.Steps} loss {pr.Loss:0.000}" +
                                           (pr.HeldOutAccuracy is { } a ? $" held-out {a:P1}" : "") + $" {pr.StepsPerSecond:0.00} steps/s";
                    }), ct, save, saveEvery);
                    task.StopTask();
                });
        }
        else
        {
            accuracy = trainer.Run(new SyncProgress(pr =>
            {
                if (pr.HeldOutAccuracy != null && trainer.Log[^1].HeldOutAccuracy != null)
                    Console.Error.WriteLine($"step {pr.Step}/{pr.Steps} loss {pr.Loss:0.000} held-out {pr.HeldOutAccuracy:P1} ({pr.StepsPerSecond:0.00} steps/s)");
            }), ct, save, saveEvery);
        }
        trainer.Save(dest);
        double secs = sw.Elapsed.TotalSeconds;
        string acc = double.IsNaN(accuracy) ? "no held-out evaluation" : $"held-out accuracy {accuracy:P1} on {o.EvalSize} prompts";
        Console.WriteLine($"trained steps {first}→{trainer.Step} in {secs:0} s ({(trainer.Step - first) / Math.Max(secs, 1e-9):0.00} steps/s): " +
                          $"{acc}, final loss {trainer.Log[^1].Loss:0.0000}; wrote {UntrustedText.Escape(dest)}");
        return 0;
    }

    sealed class SyncProgress(Action<TrainProgress> report) : IProgress<TrainProgress>
    {
        public void Report(TrainProgress value) => report(value);
    }
}
