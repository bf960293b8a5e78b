using System.Text.Json.Nodes;
using SharpLens.Tests.Support;
using Xunit;

namespace SharpLens.Tests.Cli;

/// <summary><c>sharplens train</c> as a user runs it: a tiny run whose checkpoint the other commands load, resuming,
/// and one clear message with exit 2 for every bad option (nothing written).</summary>
public class CliTrainTests
{
    static readonly string[] TinyShape = ["--layers", "1", "--d-model", "16", "--heads", "2", "--batch", "4", "--eval", "8"];

    [Fact]
    public void TinyRunWritesACheckpointTheOtherCommandsLoadAndResumes()
    {
        string dir = Path.Combine(Fixtures.TempDir("train"), "model");
        var r = CliRunner.Run(["train", "--out", dir, "--steps", "3", .. TinyShape]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("held-out accuracy", r.Stdout);
        foreach (var f in new[] { "config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "trainer_state.json", "optimizer.safetensors" })
            Assert.True(File.Exists(Path.Combine(dir, f)), f);
        Assert.False(r.Stderr.Contains('\u001b'), r.Stderr);        // redirected: no progress-bar escapes, plain lines

        var run = CliRunner.Run("run", "--model", dir, "--text", "Man has three pets, Dog, Cat and Fish - 1 Dog 1 Cat and 1", "--json");
        Assert.True(run.ExitCode == 0, run.Stderr);
        Assert.NotNull(JsonNode.Parse(run.Stdout)!["top"]);

        var resumed = CliRunner.Run("train", "--resume", dir, "--steps", "5");
        Assert.True(resumed.ExitCode == 0, resumed.Stderr);
        var state = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "trainer_state.json")))!;
        Assert.Equal(5, (int)state["step"]!);
        Assert.Equal(5, (int)state["adamw_step"]!);
    }

    [Fact]
    public void SigtermStopsTheRunAndLeavesTheLastCheckpointResumable()
    {
        string dir = Path.Combine(Fixtures.TempDir("stop"), "model");
        using var p = CliProcess.Start(["train", "--out", dir, "--steps", "1000000", "--save-every", "2", "--eval-every", "0", .. TinyShape]);
        Assert.True(p.WaitUntil(() => File.Exists(Path.Combine(dir, "trainer_state.json")), TimeSpan.FromSeconds(120)), p.Stderr);
        p.Terminate();
        var (code, _, err) = p.Wait(TimeSpan.FromSeconds(60));
        Assert.Equal(143, code);
        Assert.Contains("is intact (continue with --resume)", err);
        var state = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "trainer_state.json")))!;
        Assert.True((int)state["step"]! >= 2);
        Assert.True(File.Exists(Path.Combine(dir, "model.safetensors")));
    }

    [Theory]
    [InlineData("--out is required", "train", "--steps", "2")]
    [InlineData("--steps must be at least 1", "train", "--out", "OUT", "--steps", "0")]
    [InlineData("--batch must be", "train", "--out", "OUT", "--batch", "-3")]
    [InlineData("--lr must be", "train", "--out", "OUT", "--lr", "0")]
    [InlineData("multiple of --heads", "train", "--out", "OUT", "--d-model", "30")]
    [InlineData("--eval must be", "train", "--out", "OUT", "--eval", "-1")]
    [InlineData("--save-every must not be negative", "train", "--out", "OUT", "--save-every", "-1")]
    [InlineData("a whole number", "train", "--out", "OUT", "--steps", "many")]
    [InlineData("cannot change when resuming", "train", "--resume", "OUT", "--lr", "0.1")]
    public void BadOptionsExitTwoWithOneClearMessageAndWriteNothing(string message, params string[] args)
    {
        string root = Fixtures.TempDir("bad"), outDir = Path.Combine(root, "out");
        var r = CliRunner.Run(args.Select(a => a == "OUT" ? outDir : a).ToArray());
        Assert.Equal(2, r.ExitCode);
        Assert.Contains(message, r.Stderr);
        Assert.DoesNotContain("   at ", r.Stderr);     // no stack trace
        Assert.Empty(Directory.EnumerateFileSystemEntries(root));
    }

    [Fact]
    public void AFolderTrainDidNotWriteIsNeverReplaced()
    {
        string dir = Fixtures.TempDir("mine");
        File.WriteAllText(Path.Combine(dir, "notes.txt"), "keep");
        var r = CliRunner.Run(["train", "--out", dir, "--steps", "1", .. TinyShape]);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("not a checkpoint written by `sharplens train`", r.Stderr);
        Assert.Equal(["notes.txt"], Directory.EnumerateFileSystemEntries(dir).Select(Path.GetFileName));

        var resume = CliRunner.Run("train", "--resume", Fixtures.DemoModelDir);
        Assert.Equal(4, resume.ExitCode);
        Assert.Contains("trainer_state.json", resume.Stderr);
    }
}
