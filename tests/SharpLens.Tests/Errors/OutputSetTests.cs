using System.Diagnostics;
using System.Text.Json.Nodes;
using SharpLens.Experiments;
using SharpLens.IO;
using SharpLens.Reports;
using SharpLens.Tests.Support;

namespace SharpLens.Tests.Errors;

/// <summary>
/// One --out directory holds one run's outputs (issue 17, item 2): a second run into it is refused while the first
/// writes, stale files of an older set never survive beside the new one, and an interrupted or killed run leaves the
/// older set as it was and its temporaries to be removed (item 5); an output path that cannot be written is found
/// before the study (item 3).
/// </summary>
public class OutputSetTests
{
    static readonly string Tiny = Fixtures.Dir("tiny-qwen2");

    static string[] Hidden(string dir) => Directory.GetFileSystemEntries(dir, ".*", SearchOption.AllDirectories);

    [Fact]
    public void ANoReportRunLeavesNoOlderReportOrFigures()
    {
        string outDir = Path.Combine(Fixtures.TempDir("set"), "out");
        var first = CliProcess.Run("study", "--model", Tiny, "--out", outDir);
        Assert.True(first.Code == 0, first.Err);
        Assert.True(File.Exists(Path.Combine(outDir, "report.html")));
        Assert.NotEmpty(Directory.GetFiles(Path.Combine(outDir, "figures")));
        var second = CliProcess.Run("study", "--model", Tiny, "--out", outDir, "--no-report");
        Assert.True(second.Code == 0, second.Err);
        Assert.Equal(["results.json"], Directory.GetFileSystemEntries(outDir).Select(Path.GetFileName));
    }

    [Fact]
    public void AReportReplacesTheWholeFiguresFolder()
    {
        string dir = Fixtures.TempDir("set");
        string stale = Path.Combine(dir, "figures", "figure_of_an_older_version.png");
        Directory.CreateDirectory(Path.GetDirectoryName(stale)!);
        File.WriteAllBytes(stale, [1, 2, 3]);
        var written = ReportWriter.WriteAll(Reports.ReportInput.Build(), dir);
        Assert.False(File.Exists(stale));
        Assert.Equal(Path.Combine(dir, "report.html"), written[0]);
        Assert.All(written, p => Assert.True(File.Exists(p), p));
        Assert.Equal(written.Count - 1, Directory.GetFiles(Path.Combine(dir, "figures")).Length);
        Assert.Empty(Hidden(dir));
    }

    [Fact]
    public void ASecondRunIntoALockedDirectoryIsRefusedAndTheFirstIsUntouched()
    {
        string dir = Fixtures.TempDir("set");
        File.WriteAllText(Path.Combine(dir, "results.json"), "{\"old\": true}");
        using (var first = OutputSet.Open(dir))
        {
            File.WriteAllText(Path.Combine(first.Staging, "results.json"), "{\"new\": true}");
            var e = Assert.Throws<SharpLensException>(() => OutputSet.Open(dir));
            Assert.Equal(ExitCode.Output, e.Code);
            Assert.Equal($"{dir} is in use: another sharplens run is writing its outputs there; wait for it to finish or choose another output directory", e.Message);
            first.Commit(OutputSet.AllEntries);
        }
        Assert.Equal("{\"new\": true}", File.ReadAllText(Path.Combine(dir, "results.json")));
        using (OutputSet.Open(dir)) { } // released with the first
        Assert.Empty(Hidden(dir));
    }

    [Fact]
    public void AnAbandonedStagingFolderOfADeadRunIsRemovedAndTheOlderSetKept()
    {
        string dir = Fixtures.TempDir("set");
        File.WriteAllText(Path.Combine(dir, "results.json"), "old results");
        File.WriteAllText(Path.Combine(dir, "report.html"), "old report");
        int dead = MakeRandomOutputTests.DeadPid();
        string staging = Path.Combine(dir, $".sharplens-staging-{dead}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(Path.Combine(staging, "figures"));
        File.WriteAllText(Path.Combine(staging, "results.json"), "new results, never swapped in");
        string tmp = Path.Combine(dir, $".results.json.{dead}.{Guid.NewGuid():N}.tmp");
        File.WriteAllText(tmp, "half");
        string mine = Path.Combine(dir, $".results.json.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp"); // a live process's
        File.WriteAllText(mine, "in use");
        using (OutputSet.Open(dir)) { }
        Assert.Equal([mine], Hidden(dir));
        Assert.Equal("old results", File.ReadAllText(Path.Combine(dir, "results.json")));
        Assert.Equal("old report", File.ReadAllText(Path.Combine(dir, "report.html")));
    }

    [Theory]
    [InlineData("results.json", true)]
    [InlineData("report.html", true)]
    [InlineData("figures", false)]
    public void AnEntryInTheWayIsFoundBeforeTheStudy(string entry, bool asDirectory)
    {
        string outDir = Fixtures.TempDir("set"), path = Path.Combine(outDir, entry);
        if (asDirectory) Directory.CreateDirectory(path); else File.WriteAllText(path, "a file where the figures go");
        var r = CliProcess.Run("study", "--model", Tiny, "--out", outDir);
        Assert.True(r.Code == (int)ExitCode.Output, $"exit {r.Code}: {r.Err}");
        Assert.Equal($"error: {path} is {(asDirectory ? "a directory" : "not a directory")}, so this run's {entry} cannot take its place; " +
                     "move it away or choose another --out directory", r.Err.TrimEnd());
        Assert.DoesNotContain("Baselines", r.Out); // found before the study ran
        Assert.Empty(Hidden(outDir));
    }

    [SkippableFact]
    public void TwoStudiesIntoOneFolder_TheSecondIsRefusedAtOnce()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "flock");
        string outDir = Path.Combine(Fixtures.TempDir("set"), "out");
        using var first = StartLongStudy(outDir);
        var second = CliProcess.Run("study", "--model", Tiny, "--out", outDir);
        Assert.True(second.Code == (int)ExitCode.Output, $"exit {second.Code}: {second.Err}");
        Assert.Equal($"error: {outDir} is in use: another sharplens run is writing its outputs there; wait for it to finish or choose another --out directory",
            second.Err.TrimEnd());
        Assert.DoesNotContain("Baselines", second.Out);
        Assert.False(File.Exists(Path.Combine(outDir, "results.json")));
    }

    /// <summary>A study of the demo model on a long prompt pair (many seconds), started and past its checks.</summary>
    internal static CliProcess StartLongStudy(string outDir, params string[] more)
    {
        string prefix = string.Concat(Enumerable.Repeat(PromptSet.SeedClean + " ", 6));
        var p = CliProcess.Start(["study", "--model", Fixtures.DemoModelDir, "--clean", prefix + PromptSet.SeedClean,
            "--corrupted", prefix + PromptSet.SeedCorrupted, "--out", outDir, .. more]);
        Assert.True(p.WaitForOutput("Differing positions", TimeSpan.FromSeconds(60)), "the token table never appeared: " + p.Stdout + p.Stderr);
        return p;
    }

    [SkippableFact]
    public void SigtermDuringAStudyExits143AndLeavesTheOlderSetAsItWas()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "signals");
        string outDir = Fixtures.TempDir("set");
        File.WriteAllText(Path.Combine(outDir, "results.json"), "old results");
        File.WriteAllText(Path.Combine(outDir, "report.html"), "old report");
        using var p = StartLongStudy(outDir);
        Thread.Sleep(300);
        var clock = Stopwatch.StartNew();
        p.Terminate();
        var r = p.Wait(TimeSpan.FromSeconds(30));
        Assert.True(r.Code == (int)ExitCode.Terminated, $"exit {r.Code}: {r.Err}");
        Assert.Single(r.Err.TrimEnd().Split('\n'));
        Assert.Matches(@"^interrupted: stopped by SIGTERM during the .+ phase \(run \d+ of \d+\), after \d+ completed phases?; skipped the rest of the study and the outputs: nothing was written to ",
            r.Err);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(3), $"took {clock.Elapsed.TotalSeconds:0.00} s to stop");
        Assert.Equal("old results", File.ReadAllText(Path.Combine(outDir, "results.json")));
        Assert.Equal("old report", File.ReadAllText(Path.Combine(outDir, "report.html")));
        Assert.Empty(Hidden(outDir));
    }

    [SkippableFact]
    public void SigkillDuringAStudyLeavesTheOlderSetAndItsStagingGoesWithTheNextRun()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "signals");
        string outDir = Fixtures.TempDir("set");
        var old = CliProcess.Run("study", "--model", Tiny, "--out", outDir);
        Assert.True(old.Code == 0, old.Err);
        string oldResults = File.ReadAllText(Path.Combine(outDir, "results.json"));
        using (var p = StartLongStudy(outDir)) p.KillHard();
        Assert.Equal(oldResults, File.ReadAllText(Path.Combine(outDir, "results.json")));
        Assert.NotEmpty(Hidden(outDir)); // the killed run's staging folder
        var next = CliProcess.Run("report", Path.Combine(outDir, "results.json"));
        Assert.True(next.Code == 0, next.Err);
        Assert.Empty(Hidden(outDir));
    }

    [Fact]
    public void AReportIntoAnOutputFileThatCannotBeWrittenIsAnOutputError()
    {
        string dir = Fixtures.TempDir("set");
        string results = Path.Combine(dir, "results.json");
        File.WriteAllText(results, Reports.ReportInput.Build().ToJsonString());
        Directory.CreateDirectory(Path.Combine(dir, "report.html"));
        var r = CliProcess.Run("report", results);
        Assert.True(r.Code == (int)ExitCode.Output, $"exit {r.Code}: {r.Err}");
        Assert.StartsWith($"error: {Path.Combine(dir, "report.html")} is a directory", r.Err);
        Assert.Empty(Hidden(dir));
    }
}
