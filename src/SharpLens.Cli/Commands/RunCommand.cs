using System.CommandLine;
using System.Text.Json.Nodes;
using SharpLens.Loading;
using SharpLens.Model;
using SharpLens.Tokenization;
using Spectre.Console;

namespace SharpLens.Cli.Commands;

/// <summary><c>sharplens run --model DIR (--text TEXT | --text-file PATH) [--top K] [--json]</c>: the most likely next tokens.</summary>
internal static class RunCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "model directory or Hub id", Required = true };
        var text = new Option<string>("--text") { Description = "prompt" };
        var textFile = new Option<string?>("--text-file") { Description = "read the prompt from a UTF-8 file instead (one final line break is dropped)" };
        var top = new Option<int>("--top") { Description = "how many next tokens to show", DefaultValueFactory = _ => 10 };
        var json = new Option<bool>("--json") { Description = "print {ids, top, logits_last} as JSON" };
        var cmd = new Command("run", "Run the model on a prompt and show the top next tokens") { model, text, textFile, top, json };
        cmd.SetAction(p => CliHost.Guard(ct =>
        {
            int k = p.GetValue(top);
            if (k < 1) throw SharpLensException.Usage($"--top must be at least 1, got {k}");
            string prompt = CliHost.Text(p, text, textFile, required: true)!;
            string dir = CliHost.ResolveModel(p.GetValue(model), ct);
            var config = ModelConfig.Load(dir);
            var tok = HfTokenizer.Load(dir);
            tok.EnsureFits(config, dir);
            var ids = tok.Encode(prompt).ToArray();
            if (ids.Length == 0) throw SharpLensException.Input("the prompt is empty: give some text with --text or --text-file");
            config.CheckPromptLength(ids.Length, "prompt");
            using var m = HookedTransformer.Load(dir, ids.Length, cachedRuns: 0);
            var logits = m.Forward([ids], new RunOptions { Logits = LogitsMode.Last, Cancellation = ct }).Logits!.Data;
            double max = logits.Max(), z = logits.Sum(v => Math.Exp(v - max));
            var best = Enumerable.Range(0, logits.Length).OrderByDescending(i => logits[i]).Take(k)
                .Select(i => (Id: i, Token: tok.IsDefined(i) ? tok.TokenText(i) : "", Logit: logits[i], Prob: Math.Exp(logits[i] - max) / z)).ToList();
            if (p.GetValue(json))
            {
                Console.WriteLine(new JsonObject
                {
                    ["ids"] = new JsonArray(ids.Select(i => (JsonNode?)i).ToArray()),
                    ["top"] = new JsonArray(best.Select(b => (JsonNode?)new JsonObject
                        { ["id"] = b.Id, ["token"] = b.Token, ["logit"] = b.Logit, ["prob"] = b.Prob }).ToArray()),
                    ["logits_last"] = new JsonArray(logits.Select(v => (JsonNode?)v).ToArray()),
                }.ToJsonString());
                return 0;
            }
            var t = new Table().AddColumn("rank").AddColumn("token").AddColumn("id").AddColumn("logit").AddColumn("prob");
            for (int i = 0; i < best.Count; i++)
                t.AddRow((i + 1).ToString(), Markup.Escape(TokenizeCommand.Visible(best[i].Token)), best[i].Id.ToString(),
                    best[i].Logit.ToString("F3"), best[i].Prob.ToString("P2"));
            AnsiConsole.Write(t);
            return 0;
        }));
        return cmd;
    }
}
