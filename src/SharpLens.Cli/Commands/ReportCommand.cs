using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using SharpLens.Reports;
using Spectre.Console;

namespace SharpLens.Cli.Commands;

/// <summary><c>sharplens report RESULTS.json [--out DIR]</c>: re-renders report.html and the PNG figures from saved results.</summary>
internal static class ReportCommand
{
    public static Command Create()
    {
        var results = new Argument<string>("results") { Description = "a results.json written by sharplens study" };
        var outDir = new Option<string?>("--out") { Description = "output directory (default: the directory of RESULTS.json)" };
        var cmd = new Command("report", "Render report.html and PNG figures from a saved results.json") { results, outDir };
        cmd.SetAction(p => CliHost.Guard(_ =>
        {
            string path = p.GetValue(results)!;
            if (!File.Exists(path)) throw SharpLensException.Input($"{path}: no such file");
            JsonObject obj;
            try { obj = JsonNode.Parse(File.ReadAllText(path))?.AsObject() ?? throw SharpLensException.Input($"{path}: empty"); }
            catch (JsonException e) { throw SharpLensException.Input($"{path}: not valid JSON ({e.Message})"); }
            catch (InvalidOperationException) { throw SharpLensException.Input($"{path}: not a JSON object"); }
            if (obj["resid_pre_patch_recovery"] == null) throw SharpLensException.Input($"{path}: not a sharplens results.json (no resid_pre_patch_recovery)");
            string dir = p.GetValue(outDir) ?? Path.GetDirectoryName(Path.GetFullPath(path))!;
            foreach (var f in ReportWriter.WriteAll(obj, dir)) AnsiConsole.MarkupLine($"wrote [blue]{Markup.Escape(f)}[/]");
            return 0;
        }));
        return cmd;
    }
}
