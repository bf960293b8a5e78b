using System.Diagnostics;
using SharpLens.Tests.Support;

namespace SharpLens.Tests.Errors;

/// <summary>
/// report reads its results.json strictly and stays interruptible (issue 17, item 10): a duplicate key, a lone surrogate
/// or a number out of range is an input error naming the key, and Ctrl-C stops a report of a huge heatmap at once.
/// </summary>
public class ReportInputErrorTests
{
    /// <summary>The demo results as JSON text, with <paramref name="edit"/> applied to the text.</summary>
    static string Results(Func<string, string> edit)
    {
        string path = Path.Combine(Fixtures.TempDir("report-in"), "results.json");
        File.WriteAllText(path, edit(Reports.ReportInput.Build().ToJsonString()));
        return path;
    }

    static string AssertInputError((int Code, string Out, string Err) r)
    {
        Assert.True(r.Code == (int)ExitCode.Input, $"exit {r.Code}: {r.Err}");
        string err = r.Err.TrimEnd();
        Assert.DoesNotContain("   at ", err);
        Assert.Single(err.Split('\n'));
        return err;
    }

    [Fact]
    public void ADuplicateKeyIsAnInputErrorNamingIt()
    {
        string path = Results(s => s.Replace("\"resid_pre_patch_recovery\":", "\"resid_pre_patch_recovery\":[[0.5]],\"resid_pre_patch_recovery\":"));
        Assert.Equal($"error: {path}: key resid_pre_patch_recovery appears twice; a results.json has each key once",
            AssertInputError(CliProcess.Run("report", path)));
        Assert.False(File.Exists(Path.Combine(Path.GetDirectoryName(path)!, "report.html")));
    }

    [Fact]
    public void ANestedDuplicateKeyIsNamedWithItsPath()
    {
        string path = Results(s => s.Replace("\"model\":{", "\"model\":{\"n_layers\":9,"));
        Assert.Equal($"error: {path}: key model.n_layers appears twice; a results.json has each key once", AssertInputError(CliProcess.Run("report", path)));
    }

    [Fact]
    public void ALoneSurrogateIsAnInputErrorNamingTheKey()
    {
        string path = Results(s => s.Replace("\"sharplens_version\":\"0.0.0-test\"", "\"sharplens_version\":\"\\ud800\""));
        Assert.Equal($"error: {path}: key sharplens_version holds a string that is not valid Unicode (a lone surrogate such as \\ud800)",
            AssertInputError(CliProcess.Run("report", path)));
    }

    [Theory]
    [InlineData("resid_pre_patch_recovery")]
    [InlineData("ov_copy_rank")]
    public void ANumberOutOfRangeInAHeatmapIsAnInputErrorNamingTheKey(string key)
    {
        string path = Results(s =>
        {
            int at = s.IndexOf($"\"{key}\":[", StringComparison.Ordinal) + key.Length + 3;
            int digit = at + s[at..].IndexOfAny("-0123456789".ToCharArray());
            int end = digit + s[digit..].IndexOfAny(",]".ToCharArray());
            return s[..digit] + "1e999" + s[end..];
        });
        string err = AssertInputError(CliProcess.Run("report", path));
        Assert.Matches($@"^error: {System.Text.RegularExpressions.Regex.Escape(path)}: key {key}(\[0\])+ holds 1e999, which is not a finite number \(write a value that was not finite as null\)$", err);
    }

    /// <summary>A results.json whose residual heatmap is 24 layers × 50,000 positions (a minute or more of rendering), in a folder
    /// that holds an older report.html.</summary>
    static string HugeResults()
    {
        var results = Reports.ReportInput.Build();
        string dir = Fixtures.TempDir("huge");
        string path = Path.Combine(dir, "results.json");
        results.Remove("resid_pre_patch_recovery");
        results.Remove("token_strings");
        results.Remove("tokens");
        using (var w = new StreamWriter(path))
        {
            string json = results.ToJsonString();
            w.Write(json[..^1]);
            w.Write(",\"resid_pre_patch_recovery\":[");
            var row = string.Join(",", Enumerable.Range(0, 50_000).Select(i => ((i % 97) / 97.0).ToString("0.###", System.Globalization.CultureInfo.InvariantCulture)));
            for (int l = 0; l < 24; l++) { if (l > 0) w.Write(','); w.Write('['); w.Write(row); w.Write(']'); }
            w.Write("]}");
        }
        File.WriteAllText(Path.Combine(dir, "report.html"), "older report");
        return path;
    }

    [SkippableTheory]
    [InlineData("Ctrl-C")]
    [InlineData("SIGTERM")]
    public void ASignalStopsTheReportOfAHugeHeatmapAtOnce(string signal)
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "signals");
        string path = HugeResults(), dir = Path.GetDirectoryName(path)!;
        using var p = CliProcess.Start(["report", path]);
        // the staging folder appears once the input is read and checked: rendering has begun (at most 20 s to get there)
        p.WaitUntil(() => Directory.GetFileSystemEntries(dir, ".sharplens-staging-*").Length > 0, TimeSpan.FromSeconds(20));
        Thread.Sleep(500);
        Skip.If(signal == "Ctrl-C" && p.IgnoresSigint(), "SIGINT is ignored by processes started here (inherited SIG_IGN), so Ctrl-C cannot be simulated");
        var clock = Stopwatch.StartNew();
        if (signal == "Ctrl-C") p.Interrupt(); else p.Terminate();
        var r = p.Wait(TimeSpan.FromSeconds(60));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(3), $"took {clock.Elapsed.TotalSeconds:0.00} s to stop");
        Assert.True(r.Code == (int)(signal == "Ctrl-C" ? ExitCode.Interrupted : ExitCode.Terminated), $"exit {r.Code}: {r.Err}");
        Assert.Equal($"interrupted: stopped by {signal} before finishing; no output was written", r.Err.TrimEnd());
        Assert.Equal("older report", File.ReadAllText(Path.Combine(dir, "report.html")));
        Assert.Empty(Directory.GetFileSystemEntries(dir, ".*"));
    }

    [SkippableFact]
    public void SigkillWhileAReportRendersLeavesTheOlderReportAndTheNextRunRemovesTheStaging()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "signals");
        string path = HugeResults(), dir = Path.GetDirectoryName(path)!;
        using (var p = CliProcess.Start(["report", path]))
        {
            // the staging folder appears once the input is read and checked: rendering has begun
            Assert.True(p.WaitUntil(() => Directory.GetFileSystemEntries(dir, ".sharplens-staging-*").Length > 0, TimeSpan.FromSeconds(60)), p.Stderr);
            Thread.Sleep(500);
            p.KillHard();
        }
        Assert.Equal("older report", File.ReadAllText(Path.Combine(dir, "report.html")));
        Assert.NotEmpty(Directory.GetFileSystemEntries(dir, ".sharplens-staging-*"));
        File.WriteAllText(path, Reports.ReportInput.Build().ToJsonString());
        var next = CliProcess.Run("report", path);
        Assert.True(next.Code == 0, next.Err);
        Assert.NotEqual("older report", File.ReadAllText(Path.Combine(dir, "report.html")));
        Assert.Empty(Directory.GetFileSystemEntries(dir, ".*"));
    }
}
