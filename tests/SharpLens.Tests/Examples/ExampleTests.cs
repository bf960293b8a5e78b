using System.Text.Json.Nodes;
using SharpLens.Experiments;
using SharpLens.Model;
using SharpLens.Tests.Experiments;
using SharpLens.Tests.Support;
using static SharpLens.Tests.Examples.ExampleRunner;

namespace SharpLens.Tests.Examples;

/// <summary>
/// Every example of <c>examples/</c> run on the demo model, its printed findings checked against the library (and against
/// the study for the patching figures), so an example that drifts from the API or prints a wrong number fails here.
/// </summary>
[Collection("Examples")]
public class ExampleTests
{
    const string Clean = "Man has four fruits, Peach, Orange, Grape and Mango - 1 Peach 1 Orange 1 Grape and 1";
    static string Demo => Fixtures.DemoModelDir;
    static JsonObject StudyResults => ReferenceExperimentTests.Compute("setcomp-demo", Processing.Hf);
    static void Near(double expected, double printed, double tol = 2e-4) =>
        Assert.True(Math.Abs(expected - printed) <= tol, $"printed {printed}, the library computes {expected}");

    [Fact]
    public void EveryExampleReferencesTheLibrarySourceWithOneProjectLine()
    {
        var scripts = Directory.GetFiles(Path.Combine(Fixtures.RepoRoot, "examples"), "*.cs");
        Assert.Contains(scripts, s => s.EndsWith("quickstart.cs"));
        foreach (var s in scripts)
        {
            var directives = File.ReadAllLines(s).Where(l => l.StartsWith("#:project ")).ToArray();
            // the library, or SharpLens.Reports (which references it) for a script that draws
            var line = Assert.Single(directives);
            Assert.True(line.EndsWith("/SharpLens.csproj") || line.EndsWith("/SharpLens.Reports.csproj"), $"{Path.GetFileName(s)}: {line}");
            string project = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(s)!, line["#:project ".Length..].Trim()));
            Assert.True(File.Exists(project), $"{Path.GetFileName(s)}: {project} does not exist");
        }
    }

    [Fact]
    public void QuickstartPrintsTheTopFiveNextTokensAndAnAttentionPattern()
    {
        var lines = Lines(Run(Script("quickstart.cs")).Out);   // no MODEL: the demo model, found from the script's folder
        using var model = HookedTransformer.FromPretrained(Demo);
        int[] ids = model.ToTokens(Clean);
        Assert.Contains($"tokens ({ids.Length}): " + string.Join(" ", model.ToStrTokens(ids).Select(p => $"[{p}]")), lines);
        var (logits, cache) = model.RunWithCache([ids], "blocks.2.attn.hook_pattern");
        float[] last = logits.View(0, ^1, ..).ToArray();
        var top = Enumerable.Range(0, last.Length).OrderByDescending(i => last[i]).Take(5).ToArray();
        int at = Array.IndexOf(lines, "top-5 next tokens:");
        for (int k = 0; k < 5; k++)
        {
            Assert.StartsWith(model.Decode([top[k]]).Trim(), lines[at + 1 + k]);
            Assert.Contains($"logit {last[top[k]]:F3}", lines[at + 1 + k].Replace("  ", " ").Replace("  ", " "));
        }
        float[] row = cache["blocks.2.attn.hook_pattern"].View(0, 0, ^1, ..).ToArray();
        int argmax = Array.IndexOf(row, row.Max());
        Assert.Contains(lines, l => l.StartsWith("blocks.2.attn.hook_pattern head 0") && l.Contains($"({row[argmax]:F3}) on position {argmax} "));
    }

    [Theory]
    [InlineData(1, 0)]
    [InlineData(1, 1)]
    public void PatchHeadRecoveryEqualsTheStudysHeadPatch(int layer, int head)
    {
        var o = JsonNode.Parse(JsonLine(Run(Script("patch-head.cs"), Demo, $"{layer}", $"{head}").Out))!.AsObject();
        Assert.Equal(["clean_logit_diff", "corrupted_logit_diff", "patched_logit_diff", "recovery"], o.Select(kv => kv.Key).ToArray());
        var study = StudyResults;
        Near(study["clean_logit_diff"]!.GetValue<double>(), o["clean_logit_diff"]!.GetValue<double>());
        Near(study["corrupted_logit_diff"]!.GetValue<double>(), o["corrupted_logit_diff"]!.GetValue<double>());
        Near(study["head_z_patch_all_recovery"]![layer]![head]!.GetValue<double>(), o["recovery"]!.GetValue<double>(), 1e-4);
        double c = o["clean_logit_diff"]!.GetValue<double>(), k = o["corrupted_logit_diff"]!.GetValue<double>();
        Near((o["patched_logit_diff"]!.GetValue<double>() - k) / (c - k), o["recovery"]!.GetValue<double>(), 1e-9);
    }

    [Fact]
    public void LogitLensPrintsEachLayersLogitDifference()
    {
        var lines = Lines(Run(Script("logit-lens.cs")).Out);
        using var model = HookedTransformer.FromPretrained(Demo);
        var (_, cache) = model.RunWithCache([model.ToTokens(Clean)]);
        var resid = cache.AccumulatedResid(pos: -1, applyLn: true);
        var lens = cache.LogitAttrs(resid, model.ToSingleToken(" Mango"), model.ToSingleToken(" Orange"));
        for (int i = 0; i < resid.Count; i++)
            Near(lens[i, 0], LastNumber(Assert.Single(lines, l => l.StartsWith(resid.Labels[i] + " "))));
        Near(StudyResults["clean_logit_diff"]!.GetValue<double>(), LastNumber(Assert.Single(lines, l => l.StartsWith("logits "))));
    }

    [Fact]
    public void DlaPrintsComponentsSummingToTheLogitDiffAndTheLargestHeads()
    {
        var lines = Lines(Run(Script("dla.cs"), Demo, "3").Out);
        using var model = HookedTransformer.FromPretrained(Demo);
        var (_, cache) = model.RunWithCache([model.ToTokens(Clean)]);
        int answer = model.ToSingleToken(" Mango"), wrong = model.ToSingleToken(" Orange");
        var parts = cache.DecomposeResid(pos: -1);
        var dla = cache.LogitAttrs(parts, answer, wrong);
        for (int i = 0; i < parts.Count; i++)
            Near(dla[i, 0], LastNumber(Assert.Single(lines, l => l.StartsWith(parts.Labels[i] + " "))));
        Near(StudyResults["clean_logit_diff"]!.GetValue<double>(), LastNumber(Assert.Single(lines, l => l.StartsWith("sum "))), 1e-3);
        var heads = cache.StackHeadResults(pos: -1);
        var perHead = cache.LogitAttrs(heads, answer, wrong);
        var top = Enumerable.Range(0, heads.Count).OrderByDescending(i => Math.Abs(perHead[i, 0])).Take(3).ToArray();
        int at = Array.IndexOf(lines, "top 3 heads:");
        for (int k = 0; k < 3; k++)
        {
            Assert.StartsWith(heads.Labels[top[k]] + " ", lines[at + 1 + k]);
            Near(perHead[top[k], 0], LastNumber(lines[at + 1 + k]));
        }
    }

    [Fact]
    public void GeneratePrintsTheGreedyAndTheHookedContinuations()
    {
        var lines = Lines(Run(Script("generate.cs"), Demo, Clean, "3").Out);
        using var model = HookedTransformer.FromPretrained(Demo);
        Assert.Equal($"greedy: {model.Generate(Clean, maxNewTokens: 3)}", lines[0]);
        var ablate = new HookSet().Add("blocks.0.hook_attn_out", (act, _) => act.View().Fill(0));
        Assert.Equal($"ablated: {model.Generate(Clean, maxNewTokens: 3, hooks: ablate)}", lines[1]);
        Assert.NotEqual(lines[0][lines[0].IndexOf(' ')..], lines[1][lines[1].IndexOf(' ')..]);
    }

    [Fact]
    public void SeedStudyStepsAgreeWithTheStudy()
    {
        var lines = Lines(Run(Script("seed-study.cs")).Out);
        var study = StudyResults;
        Assert.Contains($"step 1  logit diff: clean {study["clean_logit_diff"]!.GetValue<double>():F4}, corrupted {study["corrupted_logit_diff"]!.GetValue<double>():F4}", lines);
        // step 6: the best position per layer and its recovery, as the study's residual patching grid has them
        var grid = study["resid_pre_patch_recovery"]!.AsArray();
        for (int l = 0; l < grid.Count; l++)
        {
            var row = grid[l]!.AsArray().Select(x => x!.GetValue<double>()).ToArray();
            var line = Assert.Single(lines, x => x.StartsWith($"layer {l}: position "));
            Near(row.Max(), LastNumber(line), 1e-3);
        }
        // step 7: attention and MLP output at the final position
        for (int l = 0; l < grid.Count; l++)
        {
            var line = Assert.Single(lines, x => x.StartsWith($"step 7  layer {l}: "));
            Assert.Contains($"attn_out {study["attn_out_patch_last_recovery"]![l]!.GetValue<double>():F4}".Replace("-0.0000", "0.0000"), line.Replace("-0.0000", "0.0000"));
            Assert.Contains($"mlp_out {study["mlp_out_patch_last_recovery"]![l]!.GetValue<double>():F4}".Replace("-0.0000", "0.0000"), line.Replace("-0.0000", "0.0000"));
        }
        // step 8: the three heads whose z patch recovers most
        var heads = study["head_z_patch_all_recovery"]!.AsArray().SelectMany((r, l) => r!.AsArray().Select((v, h) => (Name: $"L{l}H{h}", V: v!.GetValue<double>())))
            .OrderByDescending(x => x.V).Take(3);
        Assert.Contains("step 8  head patching (hook_z, all positions), top 3: " + string.Join(", ", heads.Select(x => $"{x.Name} {x.V:F4}")), lines);
        // step 9: zero ablation of each layer's attention, on both runs
        for (int l = 0; l < grid.Count; l++)
        {
            var line = Assert.Single(lines, x => x.StartsWith($"step 9  layer {l} attention zeroed: "));
            Assert.EndsWith($"clean {study["zero_ablate_attn_clean_logit_diff"]![l]!.GetValue<double>():F4}, "
                + $"corrupted {study["zero_ablate_attn_corrupted_logit_diff"]![l]!.GetValue<double>():F4}", line);
        }
    }
}
