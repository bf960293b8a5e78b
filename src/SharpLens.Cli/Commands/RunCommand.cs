using System.CommandLine;
using System.Text.Json.Nodes;
using SharpLens.Loading;
using SharpLens.IO;
using SharpLens.Model;
using SharpLens.Reports;
using SharpLens.Tokenization;
using Spectre.Console;

namespace SharpLens.Cli.Commands;

/// <summary><c>sharplens run [--model DIR] (--text TEXT | --text-file PATH) [--top K] [--cache HOOK,…] [--json]</c>: the most
/// likely next tokens, and the activations asked for.</summary>
internal static class RunCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var text = CommonOptions.Text("prompt");
        var textFile = CommonOptions.TextFile("prompt");
        var top = new Option<int>("--top") { Description = "how many next tokens to show", DefaultValueFactory = _ => 10 };
        var cache = new Option<string?>("--cache") { Description = "hook points to print, comma-separated (e.g. blocks.0.attn.hook_pattern,ln_final.hook_scale)" };
        var json = new Option<bool>("--json") { Description = "print {ids, top, logits_last[, cache]} as JSON" };
        var attention = new Option<bool>("--attention") { Description = "write the attention viewer (every layer and head) to --out DIR/attention.html" };
        var outDir = new Option<string?>("--out") { Description = "directory for --attention's attention.html" };
        var cmd = new Command("run", "Run the model on a prompt and show the top next tokens") { model, text, textFile, top, cache, json, attention, outDir };
        cmd.SetAction(p => CliHost.Guard(ct =>
        {
            int k = p.GetValue(top);
            if (k < 1) throw SharpLensException.Usage($"--top must be at least 1, got {k}");
            bool viewer = p.GetValue(attention);
            string? outPath = p.GetValue(outDir);
            if (viewer && string.IsNullOrEmpty(outPath)) throw SharpLensException.Usage("--attention needs --out DIR (the viewer is written to DIR/attention.html)");
            if (!viewer && outPath is not null) throw SharpLensException.Usage("--out is only used with --attention");
            if (viewer) AtomicFile.EnsureWritableDirectory(outPath!, "--out");   // before the model loads
            string prompt = CliHost.Text(p, text, textFile, required: true)!;
            string[] hooks = (p.GetValue(cache) ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (p.GetValue(cache) is { } given && hooks.Length == 0) throw SharpLensException.Usage($"--cache \"{GenerateCommand.Printable(given)}\" names no hook");
            string dir = CliHost.ResolveModel(p.GetValue(model), ct);
            var config = ModelConfig.Load(dir);
            var tok = HfTokenizer.Load(dir);
            tok.EnsureFits(config, dir);
            // With the BOS the tokenizer's post-processor adds (Mistral, Gemma, Llama 3), as ToTokens and Hugging Face do.
            if (tok.Encode(prompt).Count == 0) throw SharpLensException.Input("the prompt is empty: give some text with --text or --text-file");
            var ids = tok.Encode(prompt, addSpecialTokens: true).ToArray();
            config.CheckPromptLength(ids.Length, "prompt");
            using var m = HookedTransformer.Load(dir, ids.Length, cachedRuns: hooks.Length == 0 && !viewer ? 0 : 1);
            m.HookNames.CheckAll(hooks);   // after the load (a mapping) has checked the config against the tensors, before the run
            var wanted = hooks.ToHashSet(StringComparer.Ordinal);
            if (viewer) wanted.UnionWith(m.HookNames.Layers.Select(l => l.Pattern));
            var run = m.Forward([ids], new RunOptions
            {
                Logits = LogitsMode.Last,
                CacheFilter = wanted.Count == 0 ? null : wanted.Contains,
                Cancellation = ct,
            });
            if (viewer)
            {
                string file = Path.Combine(outPath!, AttentionFileName);
                var tokens = ids.Select(i => tok.IsDefined(i) ? tok.TokenText(i) : $"<{i}>").ToArray();
                var fig = Figures.AttentionPatterns(run.Cache, tokens, title: $"Attention patterns: {Path.GetFileName(dir.TrimEnd('/'))}");
                ct.ThrowIfCancellationRequested();
                AtomicFile.WriteAllText(file, fig.ToHtml());
                Console.Error.WriteLine($"wrote {GenerateCommand.Printable(Path.GetFullPath(file))}");
            }
            var logits = run.Logits!.Data;
            double max = logits.Max(), z = logits.Sum(v => Math.Exp(v - max));
            var best = Enumerable.Range(0, logits.Length).OrderByDescending(i => logits[i]).Take(k)
                .Select(i => (Id: i, Token: tok.IsDefined(i) ? tok.TokenText(i) : "", Logit: logits[i], Prob: Math.Exp(logits[i] - max) / z)).ToList();
            if (p.GetValue(json))
            {
                var o = new JsonObject
                {
                    ["ids"] = new JsonArray(ids.Select(i => (JsonNode?)i).ToArray()),
                    ["top"] = new JsonArray(best.Select(b => (JsonNode?)new JsonObject
                        { ["id"] = b.Id, ["token"] = b.Token, ["logit"] = b.Logit, ["prob"] = b.Prob }).ToArray()),
                    ["logits_last"] = new JsonArray(logits.Select(v => (JsonNode?)v).ToArray()),
                };
                if (hooks.Length > 0) o["cache"] = CacheJson(run.Cache, hooks);
                Console.WriteLine(o.ToJsonString());
                return 0;
            }
            var t = new Table().AddColumn("rank").AddColumn("token").AddColumn("id").AddColumn("logit").AddColumn("prob");
            for (int i = 0; i < best.Count; i++)
                t.AddRow((i + 1).ToString(), Markup.Escape(TokenizeCommand.Visible(best[i].Token)), best[i].Id.ToString(),
                    best[i].Logit.ToString("F3"), best[i].Prob.ToString("P2"));
            AnsiConsole.Write(t);
            if (hooks.Length > 0) AnsiConsole.Write(CacheTable(run.Cache, hooks));
            return 0;
        }));
        return cmd;
    }

    /// <summary>The file <c>--attention</c> writes into <c>--out</c>.</summary>
    public const string AttentionFileName = "attention.html";

    /// <summary>EXPERIMENTS.md's <c>"cache": {hook: {"shape", "data"}}</c>: per prompt (no batch axis), row-major, masked
    /// (−∞) attention scores as null, as in reference_activations.json.</summary>
    internal static JsonObject CacheJson(ActivationCache cache, IEnumerable<string> hooks)
    {
        var o = new JsonObject();
        foreach (var name in hooks.Distinct())
        {
            var act = cache[name];
            o[name] = new JsonObject
            {
                ["shape"] = new JsonArray(act.Shape[1..].Select(s => (JsonNode?)s).ToArray()),
                ["data"] = new JsonArray(act.Slice(0).ToArray().Select(v => float.IsFinite(v) ? (JsonNode?)v : null).ToArray()),
            };
        }
        return o;
    }

    /// <summary>One row per hook: its shape and a summary of its values (masked entries left out).</summary>
    static Table CacheTable(ActivationCache cache, IEnumerable<string> hooks)
    {
        var t = new Table().Title("Activations (per prompt; --json prints them)").AddColumns("hook", "shape", "mean", "min", "max");
        foreach (var name in hooks.Distinct())
        {
            var act = cache[name];
            var finite = act.Data.Where(float.IsFinite).ToArray();
            t.AddRow(Markup.Escape(name), Markup.Escape($"[{string.Join(", ", act.Shape[1..])}]"),
                finite.Length == 0 ? "–" : finite.Average().ToString("F4"),
                finite.Length == 0 ? "–" : finite.Min().ToString("F4"),
                finite.Length == 0 ? "–" : finite.Max().ToString("F4"));
        }
        return t;
    }
}
