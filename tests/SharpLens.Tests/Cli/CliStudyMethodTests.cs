using System.Text.Json.Nodes;
using SharpLens.Tests.Support;
using SharpLens;

namespace SharpLens.Tests.Cli;

/// <summary>`sharplens study --method exact|atp|atp+verify K` and the AtP* flags end to end on the demo model.</summary>
public class CliStudyMethodTests
{
    static JsonObject Results(string dir) => JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "results.json")))!.AsObject();

    [Fact]
    public void MethodAtp_WritesTheAtpKeysAndNoExactSweep()
    {
        string cwd = Fixtures.TempDir("atp");
        var r = CliRunner.RunIn(cwd, null, "study", "--method", "ATP", "--no-report", "--out", "o");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var o = Results(Path.Combine(cwd, "o"));
        Assert.Equal("atp", o["method"]!.GetValue<string>());
        Assert.NotNull(o["atp_head_q_all_recovery"]);
        Assert.False(o["atp_options"]!["qk_fix"]!.GetValue<bool>());
        Assert.Null(o["resid_pre_patch_recovery"]);
        Assert.Null(o["atp_verify"]);
    }

    [Fact]
    public void MethodAtpVerify_WithAtpStar_VerifiesKItemsAndReportsTheComparison()
    {
        string cwd = Fixtures.TempDir("atp-verify");
        var r = CliRunner.RunIn(cwd, null, "study", "--method", "atp+verify", "2", "--qk-fix", "--grad-drop", "--out", "o");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var o = Results(Path.Combine(cwd, "o"));
        Assert.Equal("atp+verify", o["method"]!.GetValue<string>());
        Assert.Equal(2, o["atp_verify"]!["k"]!.GetValue<int>());
        Assert.All(o["atp_verify"]!["sweeps"]!.AsObject(), s => Assert.Equal(2, s.Value!.AsArray().Count));
        Assert.True(o["atp_options"]!["qk_fix"]!.GetValue<bool>() && o["atp_options"]!["grad_drop"]!.GetValue<bool>());
        string html = File.ReadAllText(Path.Combine(cwd, "o", "report.html"));
        Assert.Contains("<section id=\"atp\">", html);
        Assert.Contains("Spearman ρ", html);
    }

    [Theory]
    [InlineData("atp+verify")]
    [InlineData("atp+verify", "0")]
    [InlineData("atp+verify", "many")]
    [InlineData("atp", "3")]
    [InlineData("fast")]
    public void BadMethod_IsAUsageError(params string[] method)
    {
        var r = CliRunner.Run(["study", "--method", .. method, "--no-report", "--out", "o"]);
        Assert.Equal((int)ExitCode.Usage, r.ExitCode);
        Assert.Contains("--method", r.Stderr);
        Assert.DoesNotContain("   at ", r.Stderr);
    }
}
