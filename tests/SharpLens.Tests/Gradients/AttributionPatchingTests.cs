using System.Text.Json.Nodes;
using SharpLens.Experiments;
using SharpLens.Model;
using SharpLens.Tests.Support;
using Xunit;

namespace SharpLens.Tests.Gradients;

/// <summary>AtP keys against reference_next.json (recovery tolerance 2e-3 + 1e-4·|reference|).</summary>
public class AttributionPatchingTests
{
    static void Close(JsonNode reference, double actual, string where)
    {
        double r = (double)reference;
        Assert.True(Math.Abs(r - actual) <= 2e-3 + 1e-4 * Math.Abs(r), $"{where}: reference {r:g6}, got {actual:g6}");
    }

    [Theory]
    [InlineData("tiny-qwen2")]
    [InlineData("tiny-llama")]
    [InlineData("setcomp-demo")]
    [InlineData("tiny-gpt2")]
    [InlineData("tiny-gpt2-variant")]
    [InlineData("tiny-gpt-neox")]
    [InlineData("tiny-gpt-neox-v5")]
    [InlineData("tiny-phi3")]
    [InlineData("tiny-phi3-variant")]
    [InlineData("tiny-mistral")]
    [InlineData("tiny-mistral-window")]
    [InlineData("tiny-qwen3")]
    [InlineData("tiny-qwen3-small-head")]
    [InlineData("tiny-gemma2")]
    [InlineData("tiny-gemma2-variant")]
    public void AtpKeysMatchTheReference(string fixture)
    {
        var r = Fixtures.Json(fixture, "reference_next.json");
        var exp = Fixtures.Json(fixture, "reference_experiments.json");
        using var m = HookedTransformer.Load(Fixtures.Dir(fixture));
        int[] Ids(string k) => exp["tokens"]![k]!.AsArray().Select(t => (int)t!).ToArray();
        var atp = AttributionPatching.Run(m, Ids("clean"), Ids("corrupted"), (int)exp["answer_tokens"]!["clean"]!, (int)exp["answer_tokens"]!["corrupted"]!);
        for (int l = 0; l < m.Config.NLayers; l++)
        {
            Close(r["atp_attn_out_all_recovery"]![l]!, atp.AttnOutAllRecovery[l], $"attn_out L{l}");
            Close(r["atp_mlp_out_all_recovery"]![l]!, atp.MlpOutAllRecovery[l], $"mlp_out L{l}");
            for (int p = 0; p < atp.ResidPreRecovery[l].Length; p++) Close(r["atp_resid_pre_recovery"]![l]![p]!, atp.ResidPreRecovery[l][p], $"resid_pre L{l} pos {p}");
            for (int h = 0; h < m.Config.NHeads; h++) Close(r["atp_head_z_all_recovery"]![l]![h]!, atp.HeadZAllRecovery[l][h], $"head_z L{l}H{h}");
        }
    }
}
