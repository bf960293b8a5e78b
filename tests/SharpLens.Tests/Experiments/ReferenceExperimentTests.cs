using System.Text.Json.Nodes;
using SharpLens.Experiments;
using SharpLens.Model;
using SharpLens.Tests.Support;

namespace SharpLens.Tests.Experiments;

/// <summary>Every experiment of EXPERIMENTS.md against reference_experiments.json (float64 PyTorch), key by key.</summary>
public class ReferenceExperimentTests
{
    public static TheoryData<string> Models => new() { "tiny-qwen2", "tiny-llama", "setcomp-demo", "tiny-gpt2", "tiny-gpt2-variant", "tiny-gpt2-gelu", "tiny-mistral", "tiny-mistral-window", "tiny-qwen3", "tiny-gpt-neox", "tiny-gpt-neox-v5", "tiny-qwen3-small-head", "tiny-phi3", "tiny-gemma2", "tiny-gemma2-variant", "tiny-phi3-variant" };

    internal static StudyTokens TokensOf(JsonNode reference)
    {
        int[] Ids(string k) => reference["tokens"]![k]!.AsArray().Select(t => t!.GetValue<int>()).ToArray();
        int answer = reference["answer_tokens"]!["clean"]!.GetValue<int>(), wrong = reference["answer_tokens"]!["corrupted"]!.GetValue<int>();
        return new StudyTokens { Clean = Ids("clean"), Corrupted = Ids("corrupted"), Control = Ids("unrelated"), Answer = answer, Wrong = wrong, Candidates = [answer, wrong] };
    }

    static readonly Dictionary<(string, Processing), JsonObject> Computed = new();

    internal static JsonObject Compute(string fixture, Processing processing)
    {
        lock (Computed)
        {
            if (Computed.TryGetValue((fixture, processing), out var done)) return done;
            var reference = Fixtures.Json(fixture, "reference_experiments.json");
            using var model = HookedTransformer.Load(Fixtures.Dir(fixture));
            var r = Study.Run(model, TokensOf(reference), new StudyOptions { Processing = processing }, id => id < model.Config.VocabSize);
            // round-trip through text, as results.json is read back
            return Computed[(fixture, processing)] = JsonNode.Parse(r.ToJsonString())!.AsObject();
        }
    }

    /// <summary>Recoveries and logit diffs: 2e-3 + 1e-4·|reference|; ranks exact (ties within 1e-5 aside).</summary>
    internal static void AssertMatches(string key, JsonNode expected, JsonNode? actual)
    {
        Assert.True(actual != null, $"{key} missing from results");
        switch (expected)
        {
            case JsonArray ea:
                var aa = actual!.AsArray();
                Assert.True(ea.Count == aa.Count, $"{key}: length {aa.Count}, expected {ea.Count}");
                for (int i = 0; i < ea.Count; i++) AssertMatches($"{key}[{i}]", ea[i]!, aa[i]);
                break;
            case JsonObject eo:
                foreach (var (k, v) in eo) AssertMatches($"{key}.{k}", v!, actual![k]);
                break;
            case JsonValue ev when ev.GetValueKind() == System.Text.Json.JsonValueKind.String:
                Assert.Equal(ev.GetValue<string>(), actual!.GetValue<string>());
                break;
            default:
                double e = expected.GetValue<double>(), a = actual!.GetValue<double>();
                Assert.True(Math.Abs(e - a) <= 2e-3 + 1e-4 * Math.Abs(e), $"{key}: expected {e}, got {a}");
                break;
        }
    }

    static readonly string[] PlainKeys =
    [
        "clean_logit_diff", "corrupted_logit_diff", "resid_pre_patch_recovery", "attn_out_patch_last_recovery",
        "mlp_out_patch_last_recovery", "attn_out_patch_all_recovery", "mlp_out_patch_all_recovery", "head_z_patch_last_recovery",
        "head_z_patch_all_recovery", "head_pair_layer", "head_pair_z_patch_last_recovery", "control_resid_pre_patch_last_recovery",
        "zero_ablate_attn_clean_logit_diff", "zero_ablate_mlp_clean_logit_diff", "zero_ablate_attn_corrupted_logit_diff",
        "zero_ablate_mlp_corrupted_logit_diff", "pattern_last_row_clean", "pattern_last_row_corrupted",
    ];

    [Theory, MemberData(nameof(Models))]
    public void HfModeMatchesReference(string fixture)
    {
        var reference = Fixtures.Json(fixture, "reference_experiments.json");
        var r = Compute(fixture, Processing.Hf);
        foreach (var key in PlainKeys.Concat(["zero_ablate_head_clean_logit_diff", "zero_ablate_head_corrupted_logit_diff", "dla_clean", "dla_corrupted"]))
            AssertMatches(key, reference[key]!, r[key]);
        Assert.Equal("hf", r["processing"]!.GetValue<string>());
        // Entries exist exactly where the family has them: GPT-2's b_O, learned positions and final LayerNorm bias.
        foreach (var key in new[] { "pos_embed", "attn_bias", "bias" })
            Assert.Equal(reference["dla_clean"]![key] is null, r["dla_clean"]![key] is null);
    }

    /// <summary>Every DLA entry (embed, pos_embed, heads, attn_bias, mlp, bias) sums to the logit, in both modes.</summary>
    [Theory, MemberData(nameof(Models))]
    public void DlaEntriesSumToTheLogits(string fixture)
    {
        foreach (var processing in new[] { Processing.Hf, Processing.Tl })
        {
            var dla = Compute(fixture, processing)["dla_clean"]!;
            for (int t = 0; t < 2; t++)
            {
                double Sum(JsonNode? n) => n switch
                {
                    null => 0,
                    JsonArray a when a.Count > 0 && a[0] is JsonArray => a.Sum(Sum),
                    JsonArray a => a[t]!.GetValue<double>(),
                    _ => 0,
                };
                double total = new[] { "embed", "pos_embed", "heads", "attn_bias", "mlp", "bias" }.Sum(k => Sum(dla[k]));
                double logit = dla["logits"]![t]!.GetValue<double>();
                Assert.True(Math.Abs(total - logit) <= 1e-3 + 1e-4 * Math.Abs(logit), $"{fixture} {processing}: entries sum to {total}, logit {logit}");
            }
        }
    }

    [Theory, MemberData(nameof(Models))]
    public void TlModeMatchesReferenceTlRowsUnderPlainKeys(string fixture)
    {
        var reference = Fixtures.Json(fixture, "reference_experiments.json");
        var r = Compute(fixture, Processing.Tl);
        foreach (var key in PlainKeys) AssertMatches(key, reference[key]!, r[key]);
        foreach (var key in new[] { "zero_ablate_head_clean_logit_diff", "zero_ablate_head_corrupted_logit_diff", "dla_clean", "dla_corrupted" })
            AssertMatches(key, reference[key + "_tl"]!, r[key]);
        Assert.Equal("tl", r["processing"]!.GetValue<string>());
    }

    [Theory, MemberData(nameof(Models))]
    public void OvCopyRanksMatchExactly(string fixture)
    {
        var reference = Fixtures.Json(fixture, "reference_experiments.json");
        var r = Compute(fixture, Processing.Hf);
        AssertOvCopyRanksEqual(reference, r);
    }

    /// <summary>OV copying ranks exactly, for [answer, wrong] of every head (the candidates beyond them follow).</summary>
    internal static void AssertOvCopyRanksEqual(JsonNode reference, JsonNode r)
    {
        var e = reference["ov_copy_rank"]!.AsArray();
        var a = r["ov_copy_rank"]!.AsArray();
        Assert.Equal(e.Count, a.Count);
        for (int l = 0; l < e.Count; l++)
            for (int h = 0; h < e[l]!.AsArray().Count; h++)
                for (int t = 0; t < 2; t++)
                    Assert.True(e[l]![h]![t]!.GetValue<int>() == a[l]![h]![t]!.GetValue<int>(), $"ov_copy_rank[{l}][{h}][{t}]");
    }
}
