using System.CommandLine;
using System.Text.Json.Nodes;
using SharpLens.Loading;
using SharpLens.Model;
using SharpLens.Tokenization;

namespace SharpLens.Cli.Commands;

/// <summary>
/// <c>sharplens generate [--model M] (--text T | --text-file P) [--max-new-tokens N] [--temperature X] [--top-k K]
/// [--top-p P] [--seed S] [--json]</c>: continues a prompt (greedy by default) with <see cref="HookedTransformer.Generate(int[], int, float, int?, float?, int?, HookSet?, bool, CancellationToken)"/>.
/// </summary>
internal static class GenerateCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var text = CommonOptions.Text("prompt");
        var textFile = CommonOptions.TextFile("prompt");
        var maxNew = new Option<int>("--max-new-tokens") { Description = "how many tokens to generate at most", DefaultValueFactory = _ => 10 };
        var temperature = new Option<float>("--temperature") { Description = "0 (default): greedy; above 0: sample from softmax(logits / temperature)", DefaultValueFactory = _ => 0f };
        var topK = new Option<int?>("--top-k") { Description = "sample only from the K most likely tokens" };
        var topP = new Option<float?>("--top-p") { Description = "sample only from the most likely tokens whose probabilities reach P" };
        var seed = new Option<int?>("--seed") { Description = "seed of the sampler (same seed, same tokens)" };
        var noStop = new Option<bool>("--no-stop-at-eos") { Description = "keep going after the end-of-text token" };
        var json = new Option<bool>("--json") { Description = "print {ids, new_ids, new_tokens, completion, text} as JSON" };
        var cmd = new Command("generate", "Continue a prompt, token by token") { model, text, textFile, maxNew, temperature, topK, topP, seed, noStop, json };
        cmd.SetAction(p => CliHost.Guard(ct =>
        {
            int n = p.GetValue(maxNew);
            float t = p.GetValue(temperature);
            if (n < 0) throw SharpLensException.Usage($"--max-new-tokens must be 0 or more, got {n}");
            if (!(t >= 0) || float.IsInfinity(t)) throw SharpLensException.Usage($"--temperature must be a finite number ≥ 0, got {t}");
            if (p.GetValue(topK) is < 1) throw SharpLensException.Usage($"--top-k must be at least 1, got {p.GetValue(topK)}");
            if (p.GetValue(topP) is { } tp && !(tp > 0 && tp <= 1)) throw SharpLensException.Usage($"--top-p must be in (0, 1], got {tp}");
            string prompt = CliHost.Text(p, text, textFile, required: true)!;
            string dir = CliHost.ResolveModel(p.GetValue(model), ct);
            var config = ModelConfig.Load(dir);
            var tok = HfTokenizer.Load(dir);
            tok.EnsureFits(config, dir);
            // With the BOS the tokenizer's post-processor adds (Mistral, Gemma, Llama 3), as ToTokens and Hugging Face do.
            if (tok.Encode(prompt).Count == 0) throw SharpLensException.Input("the prompt is empty: give some text with --text or --text-file");
            var ids = tok.Encode(prompt, addSpecialTokens: true).ToArray();
            config.CheckPromptLength(ids.Length + n, "prompt with --max-new-tokens");
            using var m = HookedTransformer.FromPretrained(dir, promptTokens: ids.Length + n);
            var promptIds = m.ToTokens(prompt);
            var all = m.Generate(promptIds, n, t, p.GetValue(topK), p.GetValue(topP), p.GetValue(seed),
                stopAtEos: !p.GetValue(noStop), ct: ct);
            var fresh = all[promptIds.Length..];
            string completion = m.Decode(fresh);
            if (p.GetValue(json))
            {
                Console.WriteLine(new JsonObject
                {
                    ["ids"] = new JsonArray(promptIds.Select(i => (JsonNode?)i).ToArray()),
                    ["new_ids"] = new JsonArray(fresh.Select(i => (JsonNode?)i).ToArray()),
                    ["new_tokens"] = new JsonArray(m.ToStrTokens(fresh).Select(s => (JsonNode?)s).ToArray()),
                    ["completion"] = completion,
                    ["text"] = prompt + completion,
                }.ToJsonString());
                return 0;
            }
            Console.WriteLine(Printable(prompt + completion));
            return 0;
        }));
        return cmd;
    }

    /// <summary>Generated text with control characters other than line breaks and tabs shown as \uXXXX, so the model's
    /// output cannot drive the terminal.</summary>
    internal static string Printable(string s) =>
        string.Concat(s.Select(ch => char.IsControl(ch) && ch is not ('\n' or '\t') ? $"\\u{(int)ch:x4}" : ch.ToString()));
}
