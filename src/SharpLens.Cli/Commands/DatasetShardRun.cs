using System.Text.Json;
using System.Text.Json.Nodes;
using SharpLens.Datasets;
using SharpLens.Experiments;
using SharpLens.IO;
using SharpLens.Model;
using SharpLens.Sharding;
using SharpLens.Tokenization;
using Spectre.Console;

namespace SharpLens.Cli.Commands;

/// <summary><c>study --dataset FILE --shard I/N</c>: this shard's block of pairs (<see cref="DatasetShards.Compute"/>)
/// with the dataset study's metadata, written to --out/shard.json for <c>sharplens merge</c>.</summary>
internal static class DatasetShardRun
{
    public static int Write(HookedTransformer m, HfTokenizer tok, string datasetPath, IReadOnlyList<PreparedPair> pairs, DatasetStudyOptions options,
        ShardSpec shard, OutputSet outputs, CancellationToken ct)
    {
        var (start, end) = shard.Block(pairs.Count, options.PairsPerBatch);
        AnsiConsole.MarkupLine($"shard {shard}: pairs {start}–{end - 1} of {pairs.Count}" + (end == start ? " (none: more shards than tiles of --pairs-per-batch pairs)" : ""));
        JsonObject part;
        try
        {
            part = new StudyConsole(AnsiConsole.Console).WithProgress(progress => DatasetShards.Compute(m, pairs, options, shard, tok.IsDefined,
                new Relay(d => progress.Report(d.Line == 0 ? d.Study : new StudyProgress("pairs", d.PairsDone, d.PairCount))), ct));
            ct.ThrowIfCancellationRequested();
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            throw new SharpLensException(ExitCode.Interrupted, $"stopped by {CliHost.StoppedBy}: nothing was written to {outputs.Directory}");
        }
        var results = StudyDataset.Metadata(m, datasetPath, options);
        results[DatasetShards.PairsKey] = part;
        var warnings = NonFiniteNumbers.ReplaceWithNull(results);
        results["warnings"] = new JsonArray(warnings.Select(w => (JsonNode?)w).ToArray());
        foreach (var w in warnings) Console.Error.WriteLine($"warning: {OutputSet.ShardFile}: {w}");
        var file = StudyShard.Wrap(results, shard, StudyShard.DatasetKind, DatasetShards.Inputs(m.Directory, pairs, options), new JsonArray(start, end));
        AtomicFile.WriteAllText(Path.Combine(outputs.Staging, OutputSet.ShardFile), file.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        new StudyConsole(AnsiConsole.Console).Written(outputs.Commit(OutputSet.AllEntries));
        AnsiConsole.MarkupLine("when every shard is done: [blue]sharplens merge[/] [grey]SHARD-FOLDERS…[/] [blue]--out[/] [grey]DIR[/]");
        return 0;
    }

    sealed class Relay(Action<DatasetProgress> report) : IProgress<DatasetProgress>
    {
        public void Report(DatasetProgress value) => report(value);
    }
}
