using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using SharpLens.Datasets;
using SharpLens.Experiments;
using SharpLens.IO;
using SharpLens.Loading;
using SharpLens.Model;
using SharpLens.Reports;
using SharpLens.Sharding;
using SharpLens.Tokenization;
using Spectre.Console;

namespace SharpLens.Cli.Commands;

/// <summary>
/// <c>sharplens study --dataset pairs.jsonl</c>: the study over every pair of a dataset (<see cref="DatasetStudy"/>), written
/// as results.json (EXPERIMENTS.md "Datasets" keys) and a dataset report. A thin user of the library: it reads and checks
/// the dataset, loads the model, runs <see cref="DatasetStudy.Run"/> and writes what it returns.
/// </summary>
internal sealed class StudyDataset
{
    public Option<string?> Dataset { get; } = new("--dataset") { Description = "study every pair of this JSONL dataset (see `sharplens dataset`) instead of one pair" };
    public Option<string?> Ablation { get; } = new("--ablation") { Description = "ablations to run, comma-separated from zero, mean, resample (default: zero; with --dataset all three); resample needs --dataset" };
    public Option<string> BaselineRule { get; } = new("--baseline-rule") { Description = "which pairs a dataset study uses: sign (clean logit diff > 0 and corrupted < 0), gap (clean > 0 and clean > corrupted: for IOI's ABC corruption, whose corrupted logit diff is about 0) or auto (gap for pairs from `sharplens dataset ioi`, else sign)", DefaultValueFactory = _ => "auto" };
    public Option<int> Resamples { get; } = new("--resamples") { Description = "bootstrap resamples of the 95% intervals (dataset studies)", DefaultValueFactory = _ => Statistics.Bootstrap.DefaultResamples };
    public Option<long> Seed { get; } = new("--seed") { Description = "seed of the bootstrap and of resample ablation's partners (dataset studies)", DefaultValueFactory = _ => 0 };
    public Option<int> PairsPerBatch { get; } = new("--pairs-per-batch")
    {
        Description = "pairs of one token length within each tile of N consecutive pairs whose patching and ablation sweeps share batched forwards "
            + $"(dataset studies; default {DatasetStudyOptions.SuggestedPairsPerBatch}; 1: pair by pair; memory grows with it; values round within "
            + "EXPERIMENTS.md's tolerances of the pair-by-pair ones; --shard blocks hold whole tiles, so shards merge to the unsharded run)",
        DefaultValueFactory = _ => DatasetStudyOptions.SuggestedPairsPerBatch,
    };

    public void AddTo(Command cmd)
    {
        BaselineRule.OneOf("auto", "sign", "gap");
        foreach (var o in new Option[] { Dataset, Ablation, BaselineRule, Resamples, Seed, PairsPerBatch }) cmd.Options.Add(o);
    }

    /// <summary>--ablation as a set; <paramref name="dataset"/> chooses the default.</summary>
    public IReadOnlySet<AblationKind> Ablations(ParseResult p, bool dataset)
    {
        string? value = p.GetValue(Ablation);
        if (value == null) return dataset ? new HashSet<AblationKind> { AblationKind.Zero, AblationKind.Mean, AblationKind.Resample } : new HashSet<AblationKind> { AblationKind.Zero };
        var names = value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (names.Length == 0) throw SharpLensException.Usage("--ablation needs at least one of zero, mean, resample");
        var set = new HashSet<AblationKind>();
        foreach (var n in names)
            set.Add(n switch
            {
                "zero" => AblationKind.Zero, "mean" => AblationKind.Mean, "resample" => AblationKind.Resample,
                _ => throw SharpLensException.Usage($"--ablation: \"{GenerateCommand.Printable(n)}\" is not zero, mean or resample"),
            });
        if (!dataset && set.Contains(AblationKind.Resample)) throw SharpLensException.Usage(Study.ResampleNeedsDataset);
        return set;
    }

    /// <summary>The dataset study: <paramref name="options"/> are the single-pair options every pair gets.</summary>
    /// <param name="shard">study --shard: compute this shard's pairs into --out/shard.json (<see cref="DatasetShards"/>)</param>
    public int Run(ParseResult p, PairOptions pair, StudyOptions options, bool noReport, CancellationToken ct, ShardSpec? shard = null)
    {
        foreach (var o in new Option[] { pair.Clean, pair.CleanFile, pair.Corrupted, pair.CorruptedFile, pair.Answer, pair.Wrong })
            if (p.GetResult(o) is { Implicit: false })
                throw SharpLensException.Usage($"{o.Name} and --dataset exclude each other: a dataset's lines hold the prompts and answers");
        int resamples = p.GetValue(Resamples);
        if (resamples < 1 || resamples > 100_000) throw SharpLensException.Usage($"--resamples must be between 1 and 100,000, not {resamples}");
        int perBatch = p.GetValue(PairsPerBatch);
        if (perBatch < 1 || perBatch > 256) throw SharpLensException.Usage($"--pairs-per-batch must be between 1 and 256, not {perBatch}");
        var study = new DatasetStudyOptions
        {
            Study = options, Resamples = resamples, Seed = p.GetValue(Seed), PairsPerBatch = perBatch,
        };
        string path = p.GetValue(Dataset)!;
        var dataset = PromptDataset.Load(path);
        study = study with
        {
            BaselineRule = p.Value(BaselineRule) switch
            {
                "gap" => Experiments.BaselineRule.Gap, "sign" => Experiments.BaselineRule.Sign, _ => DatasetStudy.DefaultRule(dataset.Pairs),
            },
        };
        string outPath = pair.OutPath(p);
        string dir = CliHost.ResolveModel(p.GetValue(pair.Model), ct);
        var config = ModelConfig.Load(dir);
        Study.ValidateOptions(config, options);
        var tok = HfTokenizer.Load(dir);
        tok.EnsureFits(config, dir);
        var prepared = dataset.Prepare(tok, config);
        using var m = HookedTransformer.Load(dir, prepared.Max(x => x.Prompts.Tokens.Length), cachedRuns: 2 * perBatch);   // a group's base runs are held at once
        using var outputs = OutputSet.Open(outPath);
        AnsiConsole.MarkupLine($"[bold]Model[/] {Markup.Escape(UntrustedText.Escape(m.Directory))}; [bold]dataset[/] {Markup.Escape(UntrustedText.Escape(path))}: {prepared.Count} pairs, "
            + (dataset.AllLabeled ? "labelled (positions aggregate by label)" : "positions aggregate by offset from the final token")
            + $"; pairs used when {DatasetStudy.RuleText(study.BaselineRule)}");
        if (shard is { } part) return DatasetShardRun.Write(m, tok, path, prepared, study, part, outputs, ct);

        DatasetStudyResult result;
        try
        {
            result = new StudyConsole(AnsiConsole.Console).WithProgress(progress => DatasetStudy.Run(m, prepared, study, tok.IsDefined,
                
                // one bar for the reference pass, one for the pairs (a bar per pair and phase would fill the screen)
                new Relay(d => progress.Report(d.Line == 0 ? d.Study : new StudyProgress("pairs", d.PairsDone, d.PairCount))), ct));
            ct.ThrowIfCancellationRequested();
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            throw new SharpLensException(ExitCode.Interrupted, $"stopped by {CliHost.StoppedBy}: nothing was written to {outPath}");
        }
        var full = Assemble(m, path, study, result);
        var warnings = NonFiniteNumbers.ReplaceWithNull(full);
        full["warnings"] = new JsonArray(warnings.Select(w => (JsonNode?)w).ToArray());
        foreach (var w in warnings) Console.Error.WriteLine($"warning: results.json: {w}");
        AtomicFile.WriteAllText(Path.Combine(outputs.Staging, OutputSet.ResultsFile), full.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        var written = outputs.Commit(OutputSet.AllEntries);
        if (!noReport)
        {
            var report = CliHost.Cancellable(() => ReportWriter.Render(full, ct), ct);
            ct.ThrowIfCancellationRequested();
            written.AddRange(report.Commit(outputs));
        }
        new DatasetConsole(AnsiConsole.Console).Summary(full);
        new StudyConsole(AnsiConsole.Console).Written(written);
        return 0;
    }

    /// <summary>results.json of a dataset study: metadata, then the dataset keys.</summary>
    internal static JsonObject Assemble(HookedTransformer m, string datasetPath, DatasetStudyOptions options, DatasetStudyResult result)
    {
        var o = Metadata(m, datasetPath, options);
        foreach (var (k, v) in result.ToJson().ToList()) o[k] = v?.DeepClone();
        return o;
    }

    /// <summary>The metadata keys of a dataset study's results.json (a shard writes them beside its pairs).</summary>
    internal static JsonObject Metadata(HookedTransformer m, string datasetPath, DatasetStudyOptions options)
    {
        var o = new JsonObject
        {
            ["sharplens_version"] = typeof(Study).Assembly.GetName().Version?.ToString(),
            ["study"] = "dataset",
            ["model"] = m.Config.Describe(),
            ["config"] = JsonNode.Parse(File.ReadAllText(Path.Combine(m.Directory, "config.json"))),
            ["dataset"] = new JsonObject { ["path"] = Path.GetFullPath(datasetPath) },
            ["processing"] = options.Study.Processing == Processing.Tl ? "tl" : "hf",
            ["ablations"] = new JsonArray(options.Study.Ablations.Order().Select(a => (JsonNode?)a.ToString().ToLowerInvariant()).ToArray()),
        };
        o["model"]!["path"] = Path.GetFullPath(m.Directory);
        return o;
    }

    sealed class Relay(Action<DatasetProgress> report) : IProgress<DatasetProgress>
    {
        public void Report(DatasetProgress value) => report(value);
    }
}
