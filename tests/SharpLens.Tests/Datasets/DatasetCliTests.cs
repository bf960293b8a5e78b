using System.Text;
using SharpLens.Datasets;
using SharpLens.Tests.Support;
using SharpLens.Tokenization;

namespace SharpLens.Tests.Datasets;

/// <summary><c>sharplens dataset setcomp|ioi|check</c> end to end, as a child process.</summary>
public class DatasetCliTests
{
    [Fact]
    public void SetcompWritesTheLibrarysPairsToStdoutAndToAFileIdentically()
    {
        string cwd = Fixtures.TempDir("ds");
        var r = CliRunner.RunIn(cwd, null, "dataset", "setcomp", "--n", "12", "--seed", "4");
        Assert.True(r.ExitCode == 0, r.Stderr);
        string expected = PromptDataset.ToJsonl(SetCompletionTask.Generate(HfTokenizer.Load(Fixtures.Dir("setcomp-demo")), 12, 4));
        Assert.Equal(expected, r.Stdout);
        Assert.Equal("", r.Stderr);

        var f = CliRunner.RunIn(cwd, null, "dataset", "setcomp", "--n", "12", "--seed", "4", "--out", "sub/pairs.jsonl");
        Assert.True(f.ExitCode == 0, f.Stderr);
        Assert.Equal("", f.Stdout);
        Assert.Contains("wrote 12 setcomp pairs to sub/pairs.jsonl", f.Stderr);
        Assert.Equal(Encoding.UTF8.GetBytes(expected), File.ReadAllBytes(Path.Combine(cwd, "sub", "pairs.jsonl")));
        Assert.Single(Directory.GetFiles(Path.Combine(cwd, "sub")));   // no temporary file left behind

        var other = CliRunner.RunIn(cwd, null, "dataset", "setcomp", "--n", "12", "--seed", "5");
        Assert.NotEqual(expected, other.Stdout);
    }

    [Fact]
    public void IoiUsesTheTokenizerOfModel()
    {
        string model = Fixtures.Dir("qwen-tokenizer");   // tokenizer files only
        var a = CliRunner.Run("dataset", "ioi", "--n", "20", "--seed", "2", "--model", model);
        Assert.True(a.ExitCode == 0, a.Stderr);
        Assert.Equal(PromptDataset.ToJsonl(IoiTask.Generate(HfTokenizer.Load(model), 20, 2)), a.Stdout);
        Assert.Equal(a.Stdout, CliRunner.Run("dataset", "ioi", "--n", "20", "--seed", "2", "--model", model).Stdout);

        var all = CliRunner.Run("dataset", "ioi", "--n", "20", "--seed", "2", "--model", model, "--abc", "all");
        Assert.True(all.ExitCode == 0, all.Stderr);
        Assert.Equal(PromptDataset.ToJsonl(IoiTask.Generate(HfTokenizer.Load(model), 20, 2, IoiCorruption.AllNames)), all.Stdout);
        Assert.Equal(2, CliRunner.Run("dataset", "ioi", "--model", model, "--abc", "x").ExitCode);

        var demo = CliRunner.Run("dataset", "ioi", "--n", "5");
        Assert.Equal(3, demo.ExitCode);
        Assert.Equal("", demo.Stdout);
        Assert.StartsWith("error: --model: only 0 of the 100 IOI names are single tokens", demo.Stderr);
    }

    [Theory]
    [InlineData("--n", "0")]
    [InlineData("--n", "100001")]
    [InlineData("--n", "many")]
    [InlineData("--out", "")]
    public void BadOptionsAreUsageErrors(string option, string value)
    {
        var r = CliRunner.Run("dataset", "setcomp", option, value);
        Assert.Equal(2, r.ExitCode);
        Assert.StartsWith("error: ", r.Stderr);
        Assert.DoesNotContain("   at ", r.Stderr);
    }

    [Fact]
    public void UnwritableOutIsAnOutputError()
    {
        string cwd = Fixtures.TempDir("ds");
        Directory.CreateDirectory(Path.Combine(cwd, "taken"));
        var r = CliRunner.RunIn(cwd, null, "dataset", "setcomp", "--n", "3", "--out", "taken");
        Assert.Equal(7, r.ExitCode);
        Assert.StartsWith("error: cannot write taken", r.Stderr);
    }

    [Fact]
    public void CheckReportsEveryBadLineOrSummarisesAGoodFile()
    {
        string cwd = Fixtures.TempDir("ds");
        Assert.Equal(0, CliRunner.RunIn(cwd, null, "dataset", "setcomp", "--n", "5", "--out", "good.jsonl").ExitCode);
        var ok = CliRunner.RunIn(cwd, null, "dataset", "check", "good.jsonl");
        Assert.True(ok.ExitCode == 0, ok.Stderr);
        Assert.Contains("5 pairs, all fit the tokenizer and the model's context; every pair has labels", ok.Stdout);

        var lines = File.ReadAllLines(Path.Combine(cwd, "good.jsonl"));
        lines[1] = "{\"clean\": \"a\"}";
        lines[3] = "not json";
        File.WriteAllLines(Path.Combine(cwd, "bad.jsonl"), lines);
        var bad = CliRunner.RunIn(cwd, null, "dataset", "check", "bad.jsonl");
        Assert.Equal(3, bad.ExitCode);
        Assert.StartsWith("error: dataset bad.jsonl: 2 bad lines", bad.Stderr);
        Assert.Contains("  line 2: \"corrupted\" is missing; \"answer\" is missing; \"wrong\" is missing", bad.Stderr);
        Assert.Contains("  line 4: not valid JSON", bad.Stderr);

        // Pairs that parse but do not fit the tokenizer: different token lengths.
        lines = File.ReadAllLines(Path.Combine(cwd, "good.jsonl"));
        var pair = PromptDataset.Parse(Encoding.UTF8.GetBytes(lines[2])).Pairs[0];
        lines[2] = (pair with { Corrupted = pair.Corrupted + " 1" }).ToJsonLine();
        File.WriteAllLines(Path.Combine(cwd, "misfit.jsonl"), lines);
        var misfit = CliRunner.RunIn(cwd, null, "dataset", "check", "misfit.jsonl");
        Assert.Equal(3, misfit.ExitCode);
        Assert.Contains("line 3: the clean and corrupted prompts have different token lengths", misfit.Stderr);

        var missing = CliRunner.RunIn(cwd, null, "dataset", "check", "none.jsonl");
        Assert.Equal(3, missing.ExitCode);
        Assert.Equal("error: dataset none.jsonl: no such file", missing.Stderr.Trim());
    }
}
