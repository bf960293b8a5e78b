using System.Text.Json.Nodes;
using SharpLens.Experiments;
using SharpLens.IO;
using SharpLens.Loading;
using SharpLens.Tests.Support;
using SharpLens.Tokenization;

namespace SharpLens.Tests.Errors;

/// <summary>
/// A study whose numbers overflow is written, not lost (issue 17, item 3): non-finite numbers become null, are listed
/// under "warnings" and on stderr, and the run exits 0.
/// </summary>
public class NonFiniteResultsTests
{
    /// <summary>A copy of tiny-qwen2 whose embedding row of a token only the control prompt has is +Inf (bf16 0x7F80).</summary>
    static string ModelWithAnInfReachingTheControlRun()
    {
        string dir = BrokenModel.Copy();
        var tok = HfTokenizer.Load(dir);
        var prompts = PromptSet.Prepare(tok, ModelConfig.Load(dir), PromptSet.SeedClean, PromptSet.SeedCorrupted, PromptSet.SeedAnswer,
            PromptSet.SeedWrong, null, null);
        int id = prompts.Tokens.Control.Except(prompts.Tokens.Clean).Except(prompts.Tokens.Corrupted).First();
        string shard = Path.Combine(dir, BrokenModel.Shard1);
        var (header, data) = BrokenModel.Read(shard);
        var entry = BrokenModel.Entry(header, "model.embed_tokens.weight");
        Assert.Equal("BF16", (string?)entry["dtype"]);
        long begin = (long)entry["data_offsets"]![0]!, dModel = (long)entry["shape"]![1]!;
        for (long i = 0; i < dModel; i++)
        {
            data[begin + (id * dModel + i) * 2] = 0x80;
            data[begin + (id * dModel + i) * 2 + 1] = 0x7F;
        }
        BrokenModel.Write(shard, System.Text.Encoding.UTF8.GetBytes(header.ToJsonString()), data);
        return dir;
    }

    [Fact]
    public void AnInfWeightInTheControlRunIsWrittenAsNullWithWarnings()
    {
        string model = ModelWithAnInfReachingTheControlRun(), outDir = Path.Combine(Fixtures.TempDir("inf"), "out");
        var r = CliProcess.Run("study", "--model", model, "--out", outDir);
        Assert.True(r.Code == 0, $"exit {r.Code}: {r.Err}");
        var results = JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, "results.json")))!.AsObject();
        var control = results["control_resid_pre_patch_last_recovery"]!.AsArray();
        Assert.Contains(control, v => v is null);
        var warnings = results["warnings"]!.AsArray().Select(w => (string)w!).ToList();
        var warning = Assert.Single(warnings, w => w.StartsWith("control_resid_pre_patch_last_recovery: ", StringComparison.Ordinal));
        Assert.Matches(@"^control_resid_pre_patch_last_recovery: \d+ of 4 numbers (is|are) not finite \(.+\) and (was|were) written as null, first at control_resid_pre_patch_last_recovery\[\d\]$", warning);
        Assert.Contains($"warning: results.json: {warning}", r.Err);
        Assert.DoesNotContain("clean_logit_diff", string.Join("\n", warnings)); // the clean and corrupted runs are finite
        Assert.True(File.Exists(Path.Combine(outDir, "report.html")));
        var report = CliProcess.Run("report", Path.Combine(outDir, "results.json")); // and what was written reads back
        Assert.True(report.Code == 0, report.Err);
    }

    [Fact]
    public void AFiniteStudyHasAnEmptyWarningsList()
    {
        var o = new JsonObject { ["a"] = 1.5, ["b"] = new JsonArray(1.0, 2.0), ["s"] = "NaN" };
        Assert.Empty(NonFiniteNumbers.ReplaceWithNull(o));
        Assert.Equal("{\"a\":1.5,\"b\":[1,2],\"s\":\"NaN\"}", o.ToJsonString());
    }

    [Fact]
    public void EveryNonFiniteNumberIsReplacedAndCounted()
    {
        var o = new JsonObject
        {
            ["grid"] = new JsonArray(new JsonArray(1.0, double.NaN), new JsonArray(double.PositiveInfinity, 2.0)),
            ["dla"] = new JsonObject { ["embed"] = new JsonArray(float.NegativeInfinity, 0f) },
            ["x"] = double.NaN,
        };
        var w = NonFiniteNumbers.ReplaceWithNull(o);
        Assert.Equal([
            "grid: 2 of 4 numbers are not finite (+Inf, NaN) and were written as null, first at grid[0][1]",
            "dla: 1 of 2 numbers is not finite (-Inf) and was written as null, first at dla.embed[0]",
            "x: 1 of 1 number is not finite (NaN) and was written as null",
        ], w);
        Assert.Equal("{\"grid\":[[1,null],[null,2]],\"dla\":{\"embed\":[null,0]},\"x\":null}", o.ToJsonString());
    }
}
