using System.CommandLine;
using System.Text.Json.Nodes;
using SharpLens.IO;
using SharpLens.Reports;
using Spectre.Console;

namespace SharpLens.Cli.Commands;

/// <summary><c>sharplens report RESULTS.json [--out DIR]</c>: re-renders report.html and the PNG figures from saved results.</summary>
internal static class ReportCommand
{
    public static Command Create()
    {
        var results = new Argument<string>("results") { Description = "a results.json written by sharplens study or sharplens circuit" };
        var outDir = new Option<string?>("--out") { Description = "output directory (default: the directory of RESULTS.json)" };
        var cmd = new Command("report", "Render report.html and PNG figures from a saved results.json") { results, outDir };
        cmd.SetAction(p => CliHost.Guard(ct =>
        {
            string path = p.GetValue(results)!;
            // parsed and checked on a worker, so that Ctrl-C stops even a huge file at once
            var obj = CliHost.Cancellable(() => ResultsFile.Load(path, ct), ct);
            if (obj[Sharding.StudyShard.HeaderKey] is JsonObject shard)
                throw SharpLensException.Input($"{path}: shard {shard["index"]}/{shard["count"]} of a sharded study, not a results.json; "
                    + "combine the shards with sharplens merge FOLDER… --out DIR, which writes the report");
            if (obj["resid_pre_patch_recovery"] == null && obj["per_pair"] is not JsonObject && !CircuitReport.IsCircuit(obj))
                throw SharpLensException.Input($"{path}: not a sharplens results.json (no resid_pre_patch_recovery, no per_pair, not a circuit)");
            string dir = p.GetValue(outDir) ?? Path.GetDirectoryName(Path.GetFullPath(path))!;
            using var set = OutputSet.Open(dir, ReportWriter.ReportEntries, "--out");
            var report = CliHost.Cancellable(() => ReportWriter.Render(obj, ct), ct);
            ct.ThrowIfCancellationRequested();
            foreach (var f in report.Commit(set)) AnsiConsole.MarkupLine($"wrote [blue]{Markup.Escape(f)}[/]");
            return 0;
        }));
        return cmd;
    }
}
