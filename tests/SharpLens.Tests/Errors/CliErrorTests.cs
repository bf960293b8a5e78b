using System.Diagnostics;
using SharpLens.Experiments;
using SharpLens.Tests.Support;

namespace SharpLens.Tests.Errors;

/// <summary>
/// The CLI as a user sees it, run as a child process: each failure is one short message on stderr (no stack trace),
/// the exit code of its category, and no output file, complete or partial.
/// </summary>
public class CliErrorTests
{
    static readonly string Tiny = Fixtures.Dir("tiny-qwen2");

    /// <summary>Checks the shape every error shares and returns stderr.</summary>
    static string AssertFailure((int Code, string Out, string Err) r, ExitCode expected, int maxLines = 1)
    {
        Assert.True((int)expected == r.Code, $"exit code {r.Code}, expected {(int)expected}; stderr: {r.Err}");
        string err = r.Err.TrimEnd();
        Assert.DoesNotContain("   at ", err);
        Assert.DoesNotContain("Exception", err);
        int lines = err.Split('\n').Length;
        Assert.True(lines >= 1 && lines <= maxLines, $"{lines} lines on stderr: {err}");
        return err;
    }

    [Fact]
    public void UnknownOptionIsUsage()
    {
        string err = AssertFailure(CliProcess.Run("study", "--no-such-option"), ExitCode.Usage, maxLines: 2);
        Assert.Contains("--no-such-option", err);
        Assert.Contains("--help", err);
    }

    [Theory]
    [InlineData("study", "--out", "")]
    [InlineData("study", "--clean-file", "")]
    [InlineData("run", "--model", "models/setcomp-demo", "--text-file", "")]
    [InlineData("run", "--model", "")]
    [InlineData("report", "", "--out", "x")]
    public void EmptyStringArgumentsAreUsage(params string[] args)
    {
        string err = AssertFailure(CliProcess.Run(args), ExitCode.Usage, maxLines: 2);
        Assert.Contains("is empty", err);
    }

    [Fact]
    public void NonNumericLayerSaysAWholeNumberIsExpected()
    {
        string err = AssertFailure(CliProcess.Run("study", "--pair-layer", "x"), ExitCode.Usage, maxLines: 2);
        Assert.Contains("as a whole number", err);
        Assert.DoesNotContain("System.", err);
    }

    [Fact]
    public void DirectoryAsPromptFileIsInput()
    {
        string err = AssertFailure(CliProcess.Run("study", "--clean-file", Fixtures.TempDir("dir-as-file")), ExitCode.Input);
        Assert.Contains("is a directory", err);
    }

    [Fact]
    public void LayerOutOfRangeIsCheckedBeforeAnyRun()
    {
        string outDir = Path.Combine(Fixtures.TempDir("cli"), "out");
        var r = CliProcess.Run("study", "--model", Tiny, "--pair-layer", "7", "--out", outDir);
        string err = AssertFailure(r, ExitCode.Usage);
        Assert.Equal("error: --pair-layer: pair layer 7 is out of range: the model has layers 0–3; pick one of those", err);
        Assert.DoesNotContain("Tokens", r.Out); // refused before the prompts were even shown
        Assert.False(Directory.Exists(outDir));
    }

    [Fact]
    public void HeadOutOfRangeIsCheckedBeforeAnyRun()
    {
        var r = CliProcess.Run("study", "--model", Tiny, "--heads", "0.1,2.9", "--out", Path.Combine(Fixtures.TempDir("cli"), "out"));
        Assert.Contains("--heads: head 2.9 is out of range", AssertFailure(r, ExitCode.Usage));
        Assert.Equal("", r.Out);
    }

    [Fact]
    public void TextAndTextFileTogetherIsUsage()
    {
        var r = CliProcess.Run("tokenize", "--model", Tiny, "--text", "a", "--text-file", "/dev/null");
        Assert.Equal("error: give --text or --text-file, not both", AssertFailure(r, ExitCode.Usage));
    }

    [Fact]
    public void InvalidUtf8TextFileNamesTheFileAndOffset()
    {
        string path = Path.Combine(Fixtures.TempDir("cli"), "prompt.txt");
        File.WriteAllBytes(path, [.. "Peach "u8, 0xFF, .. " Mango"u8]);
        string err = AssertFailure(CliProcess.Run("tokenize", "--model", Tiny, "--text-file", path), ExitCode.Input);
        Assert.Equal($"error: --text-file {path}: not valid UTF-8 at byte offset 6 (bytes ff204d61…); save the file as UTF-8 and try again", err);
    }

    [Fact]
    public void PromptFilesOfAStudyAreReadStrictly()
    {
        string dir = Fixtures.TempDir("cli"), good = Path.Combine(dir, "clean.txt"), bad = Path.Combine(dir, "corrupted.txt");
        File.WriteAllText(good, PromptSet.SeedClean + "\n");
        File.WriteAllBytes(bad, [.. "Man has"u8, 0xC0, 0x80]);
        var r = CliProcess.Run("study", "--model", Tiny, "--clean-file", good, "--corrupted-file", bad, "--out", Path.Combine(dir, "out"));
        Assert.Contains($"--corrupted-file {bad}: not valid UTF-8 at byte offset 7", AssertFailure(r, ExitCode.Input));
        Assert.False(Directory.Exists(Path.Combine(dir, "out")));
    }

    [Fact]
    public void PromptsOfDifferentLengthsShowTheTokens()
    {
        var r = CliProcess.Run("study", "--model", Tiny, "--clean", "1 Peach 1 Orange and 1", "--corrupted", "1 Peach 1 Orange Grape and 1",
            "--out", Path.Combine(Fixtures.TempDir("cli"), "out"));
        string err = AssertFailure(r, ExitCode.Input, maxLines: 20);
        Assert.StartsWith("error: the clean and corrupted prompts have different token lengths", err);
        Assert.Contains("\" Grape\"", err);
    }

    [Fact]
    public void EmptyPromptIsInput()
    {
        string err = AssertFailure(CliProcess.Run("run", "--model", Tiny, "--text", ""), ExitCode.Input);
        Assert.StartsWith("error: the prompt is empty", err);
    }

    [Fact]
    public void BrokenCheckpointIsCheckpoint()
    {
        string dir = BrokenModel.Copy(), shard = Path.Combine(dir, BrokenModel.Shard2);
        using (var fs = new FileStream(shard, FileMode.Open)) fs.SetLength(fs.Length - 100);
        string err = AssertFailure(CliProcess.Run("run", "--model", dir, "--text", "Peach"), ExitCode.Checkpoint);
        Assert.Contains(BrokenModel.Shard2, err);
        Assert.Contains("truncated file or lying header", err);
    }

    [Fact]
    public void TokenizerLargerThanTheVocabIsCheckpoint()
    {
        string dir = BrokenModel.Copy();
        BrokenModel.EditJson(Path.Combine(dir, "config.json"), o => o["vocab_size"] = 512);
        string err = AssertFailure(CliProcess.Run("run", "--model", dir, "--text", "Peach"), ExitCode.Checkpoint);
        Assert.Contains("defines token ids up to 549, but config.json has vocab_size 512", err);
    }

    [Fact]
    public void NotEnoughMemoryRefusesWithBothNumbers()
    {
        string outDir = Path.Combine(Fixtures.TempDir("cli"), "out");
        var r = CliProcess.Run(["study", "--model", Tiny, "--out", outDir], new Dictionary<string, string> { ["SHARPLENS_MEMORY_LIMIT"] = "2000000" });
        string err = AssertFailure(r, ExitCode.Memory);
        Assert.Matches(@"it needs about [\d.]+ MB \(\d+ bytes\) but only 2\.0 MB \(2000000 bytes\) is available \(SHARPLENS_MEMORY_LIMIT\)", err);
        Assert.False(Directory.Exists(outDir));
    }

    [Fact]
    public void UnwritableOutputDirectoryIsRefusedBeforeTheRuns()
    {
        string blocker = Path.Combine(Fixtures.TempDir("cli"), "out");
        File.WriteAllText(blocker, "a file where the output directory should be");
        var r = CliProcess.Run("study", "--model", Tiny, "--out", blocker);
        Assert.StartsWith($"error: cannot write to {blocker} (", AssertFailure(r, ExitCode.Output));
        Assert.DoesNotContain("Baselines", r.Out);
    }

    [Fact]
    public void MemoryLimitThatIsNotANumberIsUsage()
    {
        var r = CliProcess.Run(["run", "--model", Tiny, "--text", "Peach"], new Dictionary<string, string> { ["SHARPLENS_MEMORY_LIMIT"] = "8GB" });
        Assert.Contains("SHARPLENS_MEMORY_LIMIT=8GB is not a number of bytes", AssertFailure(r, ExitCode.Usage));
    }

    [Fact]
    public void KernelLevelThatIsNotOneIsUsage()
    {
        var r = CliProcess.Run(["run", "--model", Tiny, "--text", "Peach"], new Dictionary<string, string> { ["SHARPLENS_SIMD"] = "sse4" });
        Assert.Equal("error: SHARPLENS_SIMD=sse4 is not a kernel level (avx512, avx2 or scalar)", AssertFailure(r, ExitCode.Usage));
    }

    [SkippableFact]
    public void CtrlCDuringAStudyStopsQuicklyAndWritesNothing()
    {
        // a long prompt pair makes the demo model's sweeps take many seconds, so SIGINT lands in the middle
        string prefix = string.Concat(Enumerable.Repeat(PromptSet.SeedClean + " ", 6));
        string outDir = Path.Combine(Fixtures.TempDir("cli"), "out");  // created by the study, removed again when interrupted
        using var p = CliProcess.Start(["study", "--model", Fixtures.DemoModelDir, "--clean", prefix + PromptSet.SeedClean,
            "--corrupted", prefix + PromptSet.SeedCorrupted, "--out", outDir]);
        Assert.True(p.WaitForOutput("Differing positions", TimeSpan.FromSeconds(60)), "the token table never appeared: " + p.Stdout);
        Skip.If(p.IgnoresSigint(), "SIGINT is ignored by processes started here (inherited SIG_IGN), so Ctrl-C cannot be simulated");
        Thread.Sleep(300);
        var clock = Stopwatch.StartNew();
        p.Interrupt();
        var r = p.Wait(TimeSpan.FromSeconds(30));
        clock.Stop();
        string err = AssertFailure(r, ExitCode.Interrupted);
        Assert.Matches(@"^interrupted: stopped by Ctrl-C during the .+ phase \(run \d+ of \d+\), after \d+ completed phases?; skipped the rest of the study and the outputs: nothing was written to ", err);
        Assert.EndsWith(outDir, err);
        Assert.False(Directory.Exists(outDir), "the interrupted study left its --out directory behind"); // no results.json, no report, no *.tmp
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(3), $"took {clock.Elapsed.TotalSeconds:0.00} s to stop");
    }
}
