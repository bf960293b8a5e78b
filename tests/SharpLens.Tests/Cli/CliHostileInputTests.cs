using System.Diagnostics;
using System.Text.Json.Nodes;
using SharpLens.Tests.Errors;
using SharpLens.Tests.Hub;
using SharpLens.Tests.Support;

namespace SharpLens.Tests.Cli;

/// <summary>
/// The CLI facing a lying Hub, a hostile checkpoint or tokenizer: one line on stderr, the category's exit code, and
/// nothing from a file or a server reaching the terminal unescaped.
/// </summary>
public class CliHostileInputTests
{
    static Dictionary<string, string> HubEnv(FakeHub hub) =>
        new() { ["HF_ENDPOINT"] = hub.Endpoint, ["HF_HUB_CACHE"] = Fixtures.TempDir("hfcache") };

    static void AssertOneLineError(CliRunner.Result r, int code)
    {
        Assert.True(r.ExitCode == code, $"exit {r.ExitCode}, expected {code}; stderr: {r.Stderr}");
        Assert.DoesNotContain("   at ", r.Stderr);
        Assert.DoesNotContain("Exception", r.Stderr);
        Assert.Single(r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => l.StartsWith("error:"));
    }

    [Fact]
    public void ADownloadLongerThanAnnounced_IsANetworkError_NotAProgressBarCrash()
    {
        using var hub = new FakeHub { CdnExtraBytes = 3 << 20 };
        hub.AddRepo("tiny/qwen2", FakeHub.TinyQwenFiles(), new string('a', 40));
        var r = CliRunner.RunIn(Fixtures.TempDir("cwd"), HubEnv(hub), "tokenize", "--model", "tiny/qwen2", "--text", "hi");
        AssertOneLineError(r, 6);
        Assert.Contains("sent more than the", r.Stderr);
    }

    [Fact]
    public void AnHfTokenWithALineBreak_IsAUsageError()
    {
        using var hub = new FakeHub();
        hub.AddRepo("tiny/qwen2", FakeHub.TinyQwenFiles(), new string('a', 40));
        var env = HubEnv(hub);
        env["HF_TOKEN"] = "hf_secret\r\nX-Injected: yes";
        var r = CliRunner.RunIn(Fixtures.TempDir("cwd"), env, "tokenize", "--model", "tiny/qwen2", "--text", "hi");
        AssertOneLineError(r, 2);
        Assert.Contains("holds a line break", r.Stderr);
        Assert.DoesNotContain("hf_secret", r.Stderr);
        Assert.Empty(hub.Requests);
    }

    [Fact]
    public void CredentialsInHfEndpoint_AreNotPrinted()
    {
        using var hub = new FakeHub();
        var env = HubEnv(hub);
        env["HF_ENDPOINT"] = hub.Endpoint.Replace("http://", "http://alice:s3cret@");
        var r = CliRunner.RunIn(Fixtures.TempDir("cwd"), env, "tokenize", "--model", "tiny/missing", "--text", "hi");
        AssertOneLineError(r, 6);
        Assert.Contains("http://***@127.0.0.1", r.Stderr);
        Assert.DoesNotContain("s3cret", r.Stderr);
    }

    /// <summary>A copy of tiny-qwen2 whose tokenizer.json splits with <paramref name="pattern"/>.</summary>
    static string ModelWithSplitRegex(string pattern)
    {
        string dir = BrokenModel.Copy();
        BrokenModel.EditJson(Path.Combine(dir, "tokenizer.json"),
            o => o["pre_tokenizer"]!["pretokenizers"]![0]!["pattern"] = new JsonObject { ["Regex"] = pattern });
        return dir;
    }

    [Fact]
    public void ACatastrophicSplitRegex_IsACheckpointErrorNamingTokenizerJson_WithinTenSeconds()
    {
        string dir = ModelWithSplitRegex("(a+)+$");
        var clock = Stopwatch.StartNew();
        var r = CliRunner.Run("tokenize", "--model", dir, "--text", new string('a', 40) + "!");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"took {clock.Elapsed.TotalSeconds:0.0} s");
        AssertOneLineError(r, 4);
        Assert.Contains(Path.Combine(dir, "tokenizer.json") + ": its split regex took over", r.Stderr);
    }

    [SkippableFact]
    public void CtrlC_EndsWorkThatNeverChecksForIt()
    {
        // Each piece costs the regex ~0.2 s of backtracking (well under its timeout), and there are 300 of them: about a
        // minute of tokenizing that never looks at the cancellation token.
        string dir = ModelWithSplitRegex("(a+)+c|[^a]");
        string text = string.Concat(Enumerable.Repeat(new string('a', 20) + "b", 300));
        using var p = CliProcess.Start(["tokenize", "--model", dir, "--text", text]);
        // 2.5 s of CPU is well past start-up (a fraction of that): the process is inside the regex, whatever the load
        Assert.True(WaitForCpuSeconds(p.Id, 2.5, TimeSpan.FromSeconds(60)), "the tokenizer never got busy");
        Skip.If(p.IgnoresSigint(), "SIGINT is ignored by processes started here (inherited SIG_IGN), so Ctrl-C cannot be simulated");
        var clock = Stopwatch.StartNew();
        p.Interrupt();
        var (code, _, err) = p.Wait(TimeSpan.FromSeconds(30));
        Assert.True(code == 130, $"exit {code}; stderr: {err}");
        Assert.StartsWith("interrupted: stopped by Ctrl-C (it did not stop within 3 s, so the process was ended)", err);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(8), $"took {clock.Elapsed.TotalSeconds:0.0} s to stop");
    }

    /// <summary>Waits until process <paramref name="pid"/> has used <paramref name="seconds"/> of CPU (user + system,
    /// from /proc); false when it ended or time ran out first.</summary>
    static bool WaitForCpuSeconds(int pid, double seconds, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < timeout)
        {
            try
            {
                string stat = File.ReadAllText($"/proc/{pid}/stat");
                string[] fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' '); // fields from the 3rd (state) on
                double used = (long.Parse(fields[11]) + long.Parse(fields[12])) / 100.0; // utime, stime in clock ticks (USER_HZ 100)
                if (used >= seconds) return true;
            }
            catch (IOException) { return false; }
            Thread.Sleep(50);
        }
        return false;
    }

    [Fact]
    public void TokenTablesEscapeControlCharacters()
    {
        string tiny = Fixtures.Dir("tiny-qwen2");
        var tokenize = CliRunner.Run("tokenize", "--model", tiny, "--text", "a\u001b]0;pwned\u0007b");
        Assert.True(tokenize.ExitCode == 0, tokenize.Stderr);
        Assert.DoesNotContain('\u001b', tokenize.Stdout);
        Assert.DoesNotContain('\u0007', tokenize.Stdout);
        Assert.Contains(@"'\x1b'", tokenize.Stdout);

        // every token of the vocabulary, the byte-level ESC among them
        var run = CliRunner.Run("run", "--model", tiny, "--text", "Peach", "--top", "576");
        Assert.True(run.ExitCode == 0, run.Stderr);
        Assert.DoesNotContain('\u001b', run.Stdout);
        Assert.Contains(@"'\x1b'", run.Stdout);
    }

    [Fact]
    public void AnEscapeSequenceInATensorName_DoesNotReachTheTerminal()
    {
        string dir = BrokenModel.Copy(), shard = Path.Combine(dir, BrokenModel.Shard1);
        BrokenModel.EditHeader(shard, h =>
        {
            var entry = h["model.layers.0.input_layernorm.weight"]!.DeepClone();
            h["\u001b]0;pwned\u0007\u001b[2J"] = entry;
        });
        var r = CliRunner.Run("run", "--model", dir, "--text", "Peach");
        AssertOneLineError(r, 4);
        Assert.DoesNotContain('\u001b', r.Stderr);
        Assert.Contains(@"\x1b]0;pwned\x07\x1b[2J", r.Stderr);
    }
}
