using System.Text.Json;
using System.Text.Json.Nodes;
using SharpLens.Tests.Support;

namespace SharpLens.Tests.Reports;

/// <summary>
/// A results.json object for report tests: the setcomp-demo reference experiments plus the metadata a
/// study adds (model, token strings decoded from the demo model's vocabulary, candidates, derived keys).
/// One control token is replaced by a malicious string and one by a newline, to exercise escaping.
/// </summary>
internal static class ReportInput
{
    public const string Malicious = "<script>alert(1)</script>";

    public static JsonObject Build()
    {
        var r = Fixtures.Json("setcomp-demo", "reference_experiments.json").AsObject().DeepClone().AsObject();
        var vocab = Vocab();
        string S(int id) => vocab.TryGetValue(id, out var s) ? s : "#" + id;
        JsonArray Arr(IEnumerable<JsonNode?> xs) => new(xs.ToArray());
        var origTokens = r["tokens"]!.AsObject();
        int[] Ids(string run) => origTokens[run]!.AsArray().Select(n => (int)n!).ToArray();

        var prompts = r["prompts"]!.AsObject();
        r["sharplens_version"] = "0.0.0-test";
        r["processing"] = "hf";
        r["model"] = new JsonObject
        {
            ["path"] = "models/setcomp-demo", ["architecture"] = "Qwen2ForCausalLM", ["n_layers"] = 4, ["n_heads"] = 4,
            ["n_kv_heads"] = 4, ["d_model"] = 128, ["d_head"] = 32, ["d_mlp"] = 384, ["vocab_size"] = 512,
        };
        r["prompts"] = new JsonObject { ["clean"] = (string?)prompts["clean"], ["corrupted"] = (string?)prompts["corrupted"], ["control"] = (string?)prompts["unrelated"] };
        r["control_source"] = "user";
        var tokens = new JsonObject { ["clean"] = Arr(Ids("clean").Select(i => (JsonNode)i)), ["corrupted"] = Arr(Ids("corrupted").Select(i => (JsonNode)i)), ["control"] = Arr(Ids("unrelated").Select(i => (JsonNode)i)) };
        r["tokens"] = tokens;
        var ctrlStrings = Ids("unrelated").Select(S).ToArray();
        ctrlStrings[1] = Malicious;
        ctrlStrings[2] = "\n";
        r["token_strings"] = new JsonObject
        {
            ["clean"] = Arr(Ids("clean").Select(i => (JsonNode)S(i))),
            ["corrupted"] = Arr(Ids("corrupted").Select(i => (JsonNode)S(i))),
            ["control"] = Arr(ctrlStrings.Select(s => (JsonNode)s)),
        };
        var clean = Ids("clean"); var corr = Ids("corrupted");
        r["differing_positions"] = Arr(Enumerable.Range(0, clean.Length).Where(i => clean[i] != corr[i]).Select(i => (JsonNode)i));
        int ans = (int)r["answer_tokens"]!["clean"]!, wrong = (int)r["answer_tokens"]!["corrupted"]!;
        r["candidates"] = new JsonObject { ["tokens"] = new JsonArray(ans, wrong), ["strings"] = new JsonArray(S(ans), S(wrong)) };
        r["dla_candidates_clean"] = r["dla_clean"]!.DeepClone();
        r["dla_candidates_corrupted"] = r["dla_corrupted"]!.DeepClone();
        foreach (var run in new[] { "clean", "corrupted" })
        {
            // Plausible top tokens: the ten ids after a per-head offset (the report only displays them).
            var ids = Arr(Enumerable.Range(0, 4).Select(l => (JsonNode)Arr(Enumerable.Range(0, 4).Select(h => (JsonNode)Arr(Enumerable.Range(0, 10).Select(k => (JsonNode)(380 + l * 8 + h * 2 + k)))))));
            r[$"head_top_tokens_{run}"] = ids;
            r[$"head_top_token_strings_{run}"] = Arr(ids.Select(l => (JsonNode)Arr(l!.AsArray().Select(h => (JsonNode)Arr(h!.AsArray().Select(k => (JsonNode)S((int)k!)))))));
        }
        var pair = Mat(r["head_pair_z_patch_last_recovery"]!);
        r["head_pair_superadditivity"] = Arr(pair.Select((row, i) => (JsonNode)Arr(row.Select((v, j) => (JsonNode)(i == j ? 0.0 : v - pair[i][i] - pair[j][j])))));
        var hz = Mat(r["head_z_patch_last_recovery"]!);
        r["top_heads"] = Arr(hz.SelectMany((row, l) => row.Select((v, h) => (l, h, v))).OrderByDescending(t => Math.Abs(t.v)).Take(4).Select(t => (JsonNode)new JsonArray(t.l, t.h)));
        foreach (var kind in new[] { "attn", "mlp", "head" })
            foreach (var run in new[] { "clean", "corrupted" })
            {
                double b = (double)r[$"{run}_logit_diff"]!;
                var raw = r[$"zero_ablate_{kind}_{run}_logit_diff"]!;
                r[$"zero_ablate_{kind}_{run}_fraction"] = kind == "head"
                    ? Arr(Mat(raw).Select(row => (JsonNode)Arr(row.Select(v => (JsonNode)(v / b)))))
                    : Arr(raw.AsArray().Select(v => (JsonNode)((double)v! / b)));
            }
        r["ov_tokens"] = new JsonArray(ans, wrong);
        r["ov_token_strings"] = new JsonArray(S(ans), S(wrong));
        r["timings"] = new JsonObject { ["total_s"] = 12.5, ["forward_s"] = 1.25, ["patching_s"] = 9.75 };
        // The circuit questions: the reference_next values (without the atp_ estimates), and a plausible direct path
        // (reference_next has none): the exact one scaled, so that "direct − exact" has something to show.
        foreach (var (key, value) in Fixtures.Json("setcomp-demo", "reference_next.json").AsObject())
            if (!key.StartsWith("atp_", StringComparison.Ordinal)) r[key] = value!.DeepClone();
        foreach (var act in new[] { "q", "k", "v" })
            r[$"path_patch_direct_to_{act}_recovery"] = Arr(Mat(r[$"path_patch_to_{act}_recovery"]!).Select(row => (JsonNode)Arr(row.Select(v => (JsonNode)(0.8 * v)))));
        AddFullPatterns(r, clean, corr);
        // the AtP estimates of the four swept keys the reference has (the report compares them with exact patching)
        var next = Fixtures.Json("setcomp-demo", "reference_next.json");
        foreach (var k in new[] { "atp_resid_pre_recovery", "atp_attn_out_all_recovery", "atp_mlp_out_all_recovery", "atp_head_z_all_recovery" })
            r[k] = next[k]!.DeepClone();
        return r;
    }

    /// <summary>pattern_{clean,corrupted} [layer][head][q][k], as a study writes them: the demo model's real patterns.</summary>
    static void AddFullPatterns(JsonObject r, int[] clean, int[] corr)
    {
        using var model = SharpLens.Model.HookedTransformer.Load(Fixtures.DemoModelDir, clean.Length, cachedRuns: 2);
        var (_, cache) = model.RunWithCache([clean, corr], name => name.EndsWith(".attn.hook_pattern", StringComparison.Ordinal));
        int t = clean.Length, layers = model.Config.NLayers, heads = model.Config.NHeads;
        foreach (var (run, b) in new[] { ("clean", 0), ("corrupted", 1) })
            r["pattern_" + run] = new JsonArray(Enumerable.Range(0, layers).Select(l =>
            {
                var p = cache[$"blocks.{l}.attn.hook_pattern"];
                return (JsonNode?)new JsonArray(Enumerable.Range(0, heads).Select(h => (JsonNode?)new JsonArray(Enumerable.Range(0, t).Select(q =>
                    (JsonNode?)new JsonArray(Enumerable.Range(0, t).Select(k => (JsonNode?)Math.Round((double)p[b, h, q, k], 4)).ToArray())).ToArray())).ToArray());
            }).ToArray());
    }

    static double[][] Mat(JsonNode n) => n.AsArray().Select(row => row!.AsArray().Select(v => (double)v!).ToArray()).ToArray();

    /// <summary>id → decoded token text from the demo model's byte-level BPE vocabulary (Ġ = space, Ċ = newline).</summary>
    static Dictionary<int, string> Vocab()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Fixtures.DemoModelDir, "tokenizer.json")));
        var map = new Dictionary<int, string>();
        foreach (var p in doc.RootElement.GetProperty("model").GetProperty("vocab").EnumerateObject())
            map[p.Value.GetInt32()] = p.Name.Replace('Ġ', ' ').Replace('Ċ', '\n');
        if (doc.RootElement.TryGetProperty("added_tokens", out var added))
            foreach (var t in added.EnumerateArray()) map[t.GetProperty("id").GetInt32()] = t.GetProperty("content").GetString()!;
        return map;
    }
}
