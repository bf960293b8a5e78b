using SharpLens.Experiments;
using SharpLens.Tests.Support;

namespace SharpLens.Tests.Experiments;

/// <summary>The circuit questions (q/k/v/pattern patching, noising, path patching, logit lens) against
/// reference_next.json (float64 PyTorch), key by key, as the default study computes them in hf semantics.</summary>
public class CircuitReferenceTests
{
    public static TheoryData<string> Models => ReferenceExperimentTests.Models;

    [Theory, MemberData(nameof(Models))]
    public void StudyMatchesReferenceNext(string fixture)
    {
        var reference = Fixtures.Json(fixture, "reference_next.json").AsObject();
        var r = ReferenceExperimentTests.Compute(fixture, Processing.Hf);
        var keys = reference.Select(kv => kv.Key).Where(k => !k.StartsWith("atp_", StringComparison.Ordinal)).ToList();
        // 15 keys; Gemma 2's references add the logit lens before the final soft-cap (logit_lens_logit_diff_*_precap),
        // which the study writes when the model has a cap; without one it is the logit lens itself
        Assert.Equal(15, keys.Count(k => !k.EndsWith("_precap", StringComparison.Ordinal)));
        foreach (var key in keys)
        {
            var mine = r[key] ?? (key.EndsWith("_precap", StringComparison.Ordinal) && r["logits_softcapped"] is null ? r[key[..^"_precap".Length]] : null);
            ReferenceExperimentTests.AssertMatches(key, reference[key]!, mine);
        }
    }

    [Theory, MemberData(nameof(Models))]
    public void LibraryCallsEqualTheStudy(string fixture)
    {
        var reference = Fixtures.Json(fixture, "reference_experiments.json");
        var study = ReferenceExperimentTests.Compute(fixture, Processing.Hf);
        using var model = SharpLens.Model.HookedTransformer.Load(Fixtures.Dir(fixture));
        var runs = new StudyRuns(model, ReferenceExperimentTests.TokensOf(reference));
        var o = new System.Text.Json.Nodes.JsonObject();
        var circuits = new CircuitExperiments(runs);
        circuits.HeadInputs().WriteTo(o);
        circuits.Noising().WriteTo(o);
        circuits.LogitLens().WriteTo(o);
        var sender = study["path_patch_sender"]!.AsArray().Select(x => x!.GetValue<int>()).ToArray();
        new PathPatching(runs).Run([(sender[0], sender[1])]).WriteTo(o);
        foreach (var (key, value) in o)
            Assert.True(System.Text.Json.Nodes.JsonNode.DeepEquals(value, study[key]), $"{key}: the library call differs from the study");
    }
}
