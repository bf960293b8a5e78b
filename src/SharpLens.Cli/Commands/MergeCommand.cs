using System.CommandLine;
using System.Text.Json;
using SharpLens.IO;
using SharpLens.Reports;
using SharpLens.Sharding;
using Spectre.Console;

namespace SharpLens.Cli.Commands;

/// <summary>
/// <c>sharplens merge FOLDER… --out DIR</c>: combines the partial results of a sharded study (<c>study --shard</c>, one
/// <c>shard.json</c> per folder) into the results.json and report an unsharded run writes (<see cref="ShardMerge"/>).
/// </summary>
internal static class MergeCommand
{
    public static Command Create()
    {
        var shards = new Argument<string[]>("shards") { Description = "the --out folders of the study --shard runs (or their shard.json files)", Arity = ArgumentArity.OneOrMore };
        var outDir = new Option<string>("--out") { Description = "output directory of the merged results.json and report", Required = true };
        var noReport = new Option<bool>("--no-report") { Description = "write results.json only" };
        var cmd = new Command("merge", "Combine the shards of a sharded study (study --shard) into one results.json and report") { shards, outDir, noReport };
        cmd.SetAction(p => CliHost.Guard(ct =>
        {
            string outPath = Path.GetFullPath(p.GetValue(outDir)!);
            var files = p.GetValue(shards)!.Select(ShardPath).ToList();
            foreach (string f in files)
                if (Path.GetDirectoryName(f) == outPath)
                    throw SharpLensException.Usage($"--out {outPath} holds one of the shards: merging there would replace it; choose another --out directory");
            var inputs = CliHost.Cancellable(() => files.Select(f => new ShardInput(f, ResultsFile.Load(f, ct))).ToList(), ct);
            var merged = ShardMerge.Merge(inputs);
            using var outputs = OutputSet.Open(outPath);
            AtomicFile.WriteAllText(Path.Combine(outputs.Staging, OutputSet.ResultsFile), merged.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            var written = outputs.Commit(OutputSet.AllEntries);
            if (!p.GetValue(noReport))
            {
                var report = CliHost.Cancellable(() => ReportWriter.Render(merged, ct), ct);
                ct.ThrowIfCancellationRequested();
                written.AddRange(report.Commit(outputs));
            }
            AnsiConsole.MarkupLine($"merged {inputs.Count} shard{(inputs.Count == 1 ? "" : "s")}");
            if (merged["study"]?.GetValue<string>() == "dataset") new DatasetConsole(AnsiConsole.Console).Summary(merged);
            else new StudyConsole(AnsiConsole.Console).Summary(merged);
            new StudyConsole(AnsiConsole.Console).Written(written);
            return 0;
        }));
        return cmd;
    }

    /// <summary>A shard folder's shard.json (a folder without one is an input error), or the file itself.</summary>
    static string ShardPath(string arg)
    {
        string full = Path.GetFullPath(arg);
        if (!Directory.Exists(full))
            return File.Exists(full) ? full
                : throw SharpLensException.Input($"{UntrustedText.Quote(full)}: no such folder; give the --out folders of the study --shard runs");
        string file = Path.Combine(full, OutputSet.ShardFile);
        if (Path.Exists(file)) return file;
        string why = Path.Exists(Path.Combine(full, OutputSet.ResultsFile))
            ? "it holds a complete results.json, not a shard" : "its study --shard run has not finished, or it is not a shard's --out folder";
        throw SharpLensException.Input($"{UntrustedText.Quote(full)} has no {OutputSet.ShardFile}: {why}");
    }
}
