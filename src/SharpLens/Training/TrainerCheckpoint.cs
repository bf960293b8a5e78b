using System.Text.Json;
using System.Text.Json.Nodes;
using SharpLens.IO;
using SharpLens.Loading;
using SharpLens.Tokenization;

namespace SharpLens.Training;

/// <summary>Checkpoints: a Hugging Face model folder (config.json, model.safetensors in f32, the tokenizer files) that
/// <c>FromPretrained</c> and every command load, plus what resuming needs (optimizer.safetensors with AdamW's moments,
/// trainer_state.json with the step, the options and the log).</summary>
public sealed partial class Trainer
{
    public const string StateFile = "trainer_state.json";
    public const string OptimizerFile = "optimizer.safetensors";
    static readonly string[] TokenizerFiles = [HfTokenizer.TokenizerFileName, HfTokenizer.TokenizerConfigFileName];
    static readonly HashSet<string> OwnFiles = ["config.json", "model.safetensors", StateFile, OptimizerFile, .. TokenizerFiles];

    /// <summary>
    /// Writes the checkpoint into a temporary folder beside <paramref name="dir"/> and renames it into place; an existing
    /// <paramref name="dir"/> is replaced only when it is empty or a checkpoint this method wrote (<see cref="CheckDestination"/>).
    /// </summary>
    public void Save(string dir)
    {
        string dest = Path.GetFullPath(dir);
        CheckDestination(dest);
        AtomicFolder.Write(dest, tmp =>
        {
            File.WriteAllText(Path.Combine(tmp, "config.json"), Parameters.ConfigJson + "\n");
            SafeTensorsWriter.WriteF32(Path.Combine(tmp, "model.safetensors"), Parameters.Tensors(), new Dictionary<string, string> { ["format"] = "pt" });
            SafeTensorsWriter.WriteF32(Path.Combine(tmp, OptimizerFile),
                Optimizer.ExpAvg.Tensors("exp_avg.").Concat(Optimizer.ExpAvgSq.Tensors("exp_avg_sq.")));
            if (_tokenizerDir != null)
                foreach (var name in TokenizerFiles)
                    if (File.Exists(Path.Combine(_tokenizerDir, name))) File.Copy(Path.Combine(_tokenizerDir, name), Path.Combine(tmp, name));
            File.WriteAllText(Path.Combine(tmp, StateFile), StateJson().ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
        });
    }

    JsonObject StateJson() => new()
    {
        ["format"] = "sharplens-train-1",
        ["step"] = Step,
        ["adamw_step"] = Optimizer.StepCount,
        ["options"] = JsonSerializer.SerializeToNode(Options),
        ["log"] = new JsonArray(_log.Where(e => e.HeldOutAccuracy != null || e.Step == Step)
            .Select(e => (JsonNode)new JsonObject { ["step"] = e.Step, ["loss"] = e.Loss, ["batch_accuracy"] = e.BatchAccuracy, ["heldout_accuracy"] = e.HeldOutAccuracy })
            .ToArray()),
    };

    /// <summary>Whether <see cref="Save"/> may write <paramref name="dir"/>: absent, empty, or a folder holding
    /// <see cref="StateFile"/> and nothing but what a save writes.</summary>
    /// <exception cref="SharpLensException">(<see cref="ExitCode.Usage"/>) with the reason.</exception>
    public static void CheckDestination(string dir)
    {
        string dest = Path.GetFullPath(dir);
        if (File.Exists(dest)) throw SharpLensException.Usage($"{dest} is a file, not a directory");
        if (!Directory.Exists(dest) || !Directory.EnumerateFileSystemEntries(dest).Any()) return;
        var names = Directory.EnumerateFileSystemEntries(dest).Select(Path.GetFileName).ToList();
        if (!names.Contains(StateFile) || names.Any(n => !OwnFiles.Contains(n!) || !File.Exists(Path.Combine(dest, n!))))
            throw SharpLensException.Usage($"{dest} already exists and is not a checkpoint written by `sharplens train`; choose another --out");
    }

    /// <summary>
    /// Continues a run from a checkpoint <see cref="Save"/> wrote: its weights, AdamW moments, step, options and tokenizer.
    /// <paramref name="steps"/> (when given) changes the total (the cosine schedule follows the new total from here on);
    /// <paramref name="evalSize"/> and <paramref name="evalEvery"/> the evaluations'.
    /// </summary>
    /// <exception cref="SharpLensException">(<see cref="ExitCode.Checkpoint"/>) for a folder without a readable training state.</exception>
    public static Trainer Resume(string dir, int? steps = null, int? evalSize = null, int? evalEvery = null)
    {
        string statePath = Path.Combine(dir, StateFile);
        if (!File.Exists(statePath)) throw SharpLensException.Checkpoint($"{dir}: no {StateFile}, so it is not a checkpoint `sharplens train` can resume");
        RegularFile.Require(statePath, statePath, ExitCode.Checkpoint);
        JsonObject state;
        TrainOptions options;
        try
        {
            state = JsonNode.Parse(File.ReadAllText(statePath))?.AsObject() ?? throw new JsonException("not an object");
            if (state["format"]?.GetValue<string>() != "sharplens-train-1") throw new JsonException("unknown \"format\"");
            options = state["options"].Deserialize<TrainOptions>() ?? throw new JsonException("no \"options\"");
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            throw SharpLensException.Checkpoint($"{statePath}: not a training state ({UntrustedText.Quote(e.Message)})");
        }
        if (steps is { } s) options = options with { Steps = s };
        if (evalSize is { } n) options = options with { EvalSize = n };
        if (evalEvery is { } every) options = options with { EvalEvery = every };
        var tokenizer = HfTokenizer.Load(dir);
        var parameters = ModelParameters.FromCheckpoint(dir);
        var t = new Trainer(options, tokenizer, dir, parameters);
        int step = state["step"]?.GetValue<int>() ?? 0;
        if (step > options.Steps) throw SharpLensException.Usage($"the checkpoint is at step {step}, past --steps {options.Steps}");
        t.Step = step;
        t.Optimizer.StepCount = state["adamw_step"]?.GetValue<int>() ?? step;
        string optPath = Path.Combine(dir, OptimizerFile);
        if (!File.Exists(optPath)) throw SharpLensException.Checkpoint($"{dir}: no {OptimizerFile} (AdamW's moments)");
        using (var f = SafeTensorsFile.Open(optPath))
        {
            t.Optimizer.ExpAvg.ReadFrom(f, "exp_avg.");
            t.Optimizer.ExpAvgSq.ReadFrom(f, "exp_avg_sq.");
        }
        foreach (var e in state["log"]?.AsArray() ?? [])
            t._log.Add(new TrainLogEntry(e!["step"]!.GetValue<int>(), e["loss"]!.GetValue<double>(), e["batch_accuracy"]!.GetValue<double>(),
                e["heldout_accuracy"]?.GetValue<double>()));
        return t;
    }
}
