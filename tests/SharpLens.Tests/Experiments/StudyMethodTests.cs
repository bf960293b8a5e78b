using System.Text.Json.Nodes;
using SharpLens.Experiments;
using SharpLens.Model;
using SharpLens.Tests.Support;

namespace SharpLens.Tests.Experiments;

/// <summary>Study.Run with <see cref="StudyMethod"/>: exact (AtP beside), atp (AtP only) and atp+verify K (exact patching
/// of AtP's top K items of each sweep), and <see cref="AtpComparison"/>.</summary>
public class StudyMethodTests
{
    static readonly string[] ExactKeys = AtpResult.Keys.Select(k => k.Exact).ToArray();

    static double[] Flat(JsonNode n) => n.AsArray().SelectMany(x => x is JsonArray a ? a.Select(y => y!.GetValue<double>()) : [x!.GetValue<double>()]).ToArray();

    static double At(JsonNode grid, int[] index) => index.Length == 1 ? grid[index[0]]!.GetValue<double>() : grid[index[0]]![index[1]]!.GetValue<double>();

    [Fact]
    public void Atp_AnswersTheSweepsFromAtpAlone_AsTheLibraryComputesIt()
    {
        var reference = Fixtures.Json("setcomp-demo", "reference_experiments.json");
        var tokens = ReferenceExperimentTests.TokensOf(reference);
        using var model = HookedTransformer.Load(Fixtures.Dir("setcomp-demo"));
        var r = Study.Run(model, tokens, new StudyOptions { Method = StudyMethod.Atp }, _ => true);
        Assert.Equal("atp", r["method"]!.GetValue<string>());
        foreach (var key in ExactKeys.Append("head_pair_z_patch_last_recovery").Append("zero_ablate_head_clean_logit_diff").Append("noise_head_z_all_fraction"))
            Assert.Null(r[key]);
        Assert.NotNull(r["dla_clean"]);           // what is not a sweep still runs
        Assert.NotNull(r["top_heads"]);
        var lib = AttributionPatching.Run(model, tokens.Clean, tokens.Corrupted, tokens.Answer, tokens.Wrong);
        foreach (var (atpKey, _) in AtpResult.Keys)
        {
            var got = Flat(r[atpKey]!); var want = lib.Grid(atpKey).SelectMany(x => x).ToArray();
            Assert.Equal(want.Length, got.Length);
            for (int i = 0; i < got.Length; i++) Assert.True(Math.Abs(got[i] - want[i]) <= 1e-4 * (1 + Math.Abs(want[i])), $"{atpKey}[{i}]: {got[i]} vs {want[i]}");
        }
    }

    [Fact]
    public void AtpVerify_PatchesAtpsTopKOfEachSweepExactly_AsTheExactStudyDoes()
    {
        var reference = Fixtures.Json("tiny-qwen2", "reference_experiments.json");
        var tokens = ReferenceExperimentTests.TokensOf(reference);
        using var model = HookedTransformer.Load(Fixtures.Dir("tiny-qwen2"));
        const int k = 3;
        var v = Study.Run(model, tokens, new StudyOptions { Method = StudyMethod.AtpVerify, VerifyTop = k }, _ => true);
        var exact = Study.Run(model, tokens, new StudyOptions
        {
            Experiments = StudyExperiments.Select("resid_patch,attn_mlp_patch,head_patch,head_input_patch,atp", null),
        }, _ => true);
        Assert.Equal("atp+verify", v["method"]!.GetValue<string>());
        Assert.Equal("exact", exact["method"]!.GetValue<string>());
        var sweeps = v["atp_verify"]!["sweeps"]!.AsObject();
        Assert.Equal(k, v["atp_verify"]!["k"]!.GetValue<int>());
        Assert.Equal(ExactKeys.OrderBy(x => x), sweeps.Select(s => s.Key).OrderBy(x => x));
        foreach (var (atpKey, exactKey) in AtpResult.Keys)
        {
            var items = sweeps[exactKey]!.AsArray();
            Assert.Equal(k, items.Count);
            var all = Flat(v[atpKey]!).Select(Math.Abs).OrderDescending().ToArray();
            foreach (var item in items)
            {
                var index = item!["index"]!.AsArray().Select(x => x!.GetValue<int>()).ToArray();
                double atp = item["atp"]!.GetValue<double>(), ex = item["exact"]!.GetValue<double>();
                Assert.Equal(At(v[atpKey]!, index), atp);
                Assert.True(Math.Abs(atp) >= all[k - 1], $"{exactKey} {string.Join(",", index)} is not among AtP's top {k}");
                double want = At(exact[exactKey]!, index);
                Assert.True(Math.Abs(ex - want) <= 1e-4 * (1 + Math.Abs(want)), $"{exactKey} {string.Join(",", index)}: verified {ex}, exact study {want}");
            }
        }
        // the exact study keeps AtP beside its sweeps (the report compares them) and equals the AtP-only estimates
        Assert.All(Flat(v["atp_head_z_all_recovery"]!).Zip(Flat(exact["atp_head_z_all_recovery"]!)), p => Assert.True(Math.Abs(p.First - p.Second) <= 1e-4 * (1 + Math.Abs(p.Second))));
    }

    [Fact]
    public void AtpStar_OptionsReachTheStudysKeys()
    {
        var reference = Fixtures.Json("tiny-qwen2", "reference_experiments.json");
        var tokens = ReferenceExperimentTests.TokensOf(reference);
        using var model = HookedTransformer.Load(Fixtures.Dir("tiny-qwen2"));
        var r = Study.Run(model, tokens, new StudyOptions { Method = StudyMethod.Atp, Atp = AtpOptions.Star, Experiments = new HashSet<string> { "baselines" } }, _ => true);
        var lib = AttributionPatching.Run(model, tokens.Clean, tokens.Corrupted, tokens.Answer, tokens.Wrong, AtpOptions.Star);
        Assert.True(r["atp_options"]!["qk_fix"]!.GetValue<bool>() && r["atp_options"]!["grad_drop"]!.GetValue<bool>());
        var got = Flat(r["atp_head_q_all_recovery"]!); var want = lib.HeadQAllRecovery.SelectMany(x => x).ToArray();
        for (int i = 0; i < got.Length; i++) Assert.True(Math.Abs(got[i] - want[i]) <= 1e-4 * (1 + Math.Abs(want[i])));
        Assert.All(Flat(r["atp_resid_pre_recovery"]!), x => Assert.True(x >= 0));   // GradDrop: magnitudes
    }

    [Fact]
    public void VerifyTopBelowOne_IsAUsageError()
    {
        var c = Loading.ModelConfig.Load(Fixtures.Dir("tiny-qwen2"));
        var e = Assert.Throws<SharpLensException>(() => Study.ValidateOptions(c, new StudyOptions { Method = StudyMethod.AtpVerify, VerifyTop = 0 }));
        Assert.Equal(ExitCode.Usage, e.Code);
    }

    [Fact]
    public void Spearman_IsPearsonOfTheRanks_WithMeanRanksForTies()
    {
        Assert.Equal(1, AtpComparison.Spearman([1, 2, 3, 4], [10, 20, 25, 100]), 12);
        Assert.Equal(-1, AtpComparison.Spearman([1, 2, 3, 4], [4, 3, 2, 1]), 12);
        // no ties: 1 − 6 Σd² / (n(n² − 1)); ranks of b are 2, 1, 4, 3, 5 → Σd² = 4
        Assert.Equal(1 - 6.0 * 4 / (5 * 24), AtpComparison.Spearman([1, 2, 3, 4, 5], [0.2, 0.1, 0.9, 0.5, 3]), 12);
        Assert.Equal([1.5, 1.5, 3], AtpComparison.Ranks([7, 7, 9]));
        Assert.True(double.IsNaN(AtpComparison.Spearman([1, 1, 1], [1, 2, 3])));
        Assert.Equal([2, 3], AtpComparison.Disagreements([0.5, 0.0, -0.6, 0.3], [0.45, 0.05, 0.4, 0.1]).ToArray());
    }
}
