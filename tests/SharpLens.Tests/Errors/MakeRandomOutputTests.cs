using SharpLens.Loading;
using SharpLens.Tests.Support;

namespace SharpLens.Tests.Errors;

/// <summary>
/// make-random never destroys what it did not write (issue 17, item 1) and never leaves its gigabytes of temporaries
/// behind (item 5): SIGTERM removes them, and those of a SIGKILLed run are removed by the next run into the same place.
/// </summary>
public class MakeRandomOutputTests
{
    static readonly string[] Small = ["make-random", "--like", "qwen2-0.5b", "--small", "--layers", "1"];

    static (int Code, string Out, string Err) MakeRandom(string outDir, params string[] more) =>
        CliProcess.Run([.. Small, "--out", outDir, .. more], null);

    static string[] Temporaries(string outDir) =>
        Directory.GetFileSystemEntries(Path.GetDirectoryName(outDir)!, $".{Path.GetFileName(outDir)}.tmp-*");

    [Fact]
    public void ForceReplacesAFolderMakeRandomWrote()
    {
        string dir = Path.Combine(Fixtures.TempDir("force"), "m");
        Assert.Equal(0, MakeRandom(dir, "--seed", "1").Code);
        Assert.True(File.Exists(Path.Combine(dir, RandomCheckpoint.MarkerFile)));
        string shard = Directory.GetFiles(dir, "*.safetensors").Order().First();
        byte[] before = File.ReadAllBytes(shard);
        var r = MakeRandom(dir, "--seed", "2", "--force");
        Assert.True(r.Code == 0, r.Err);
        Assert.NotEqual(before, File.ReadAllBytes(shard));
        Assert.Empty(Temporaries(dir));
    }

    [Fact]
    public void ForceRefusesTheWorkingDirectory()
    {
        string cwd = Fixtures.TempDir("cwd-force");
        File.WriteAllText(Path.Combine(cwd, "thesis.tex"), "years of work");
        var r = CliProcess.Run([.. Small, "--out", ".", "--force"], null, cwd);
        Assert.True(r.Code == (int)ExitCode.Usage, $"exit {r.Code}: {r.Err}");
        Assert.Equal($"error: --force: {cwd} is not replaced: it is (or holds) the working directory; remove it yourself or choose another output folder", r.Err.TrimEnd());
        Assert.Equal("years of work", File.ReadAllText(Path.Combine(cwd, "thesis.tex")));
    }

    [Fact]
    public void ForceRefusesAFolderWithAFileMakeRandomDoesNotWrite()
    {
        string dir = Path.Combine(Fixtures.TempDir("force"), "m");
        Assert.Equal(0, MakeRandom(dir).Code);
        File.WriteAllText(Path.Combine(dir, "notes.md"), "mine");
        var r = MakeRandom(dir, "--force");
        Assert.True(r.Code == (int)ExitCode.Usage, $"exit {r.Code}: {r.Err}");
        Assert.Equal($"error: --force: {dir} is not replaced: it holds notes.md, which make-random does not write; remove it yourself or choose another output folder",
            r.Err.TrimEnd());
        Assert.Equal("mine", File.ReadAllText(Path.Combine(dir, "notes.md")));
        Assert.NotEmpty(Directory.GetFiles(dir, "*.safetensors"));
    }

    [Fact]
    public void ForceRefusesACheckpointMakeRandomDidNotWrite()
    {
        // a real model's files only (as a download leaves them), but no marker: not ours to delete
        string dir = BrokenModel.Copy();
        var r = MakeRandom(dir, "--force");
        Assert.True(r.Code == (int)ExitCode.Usage, $"exit {r.Code}: {r.Err}");
        Assert.Contains($"--force: {dir} is not replaced: make-random did not write it (there is no {RandomCheckpoint.MarkerFile} file)", r.Err);
        Assert.True(File.Exists(Path.Combine(dir, BrokenModel.Shard1)));
    }

    [Fact]
    public void ForceRefusesASubfolder()
    {
        string dir = Path.Combine(Fixtures.TempDir("force"), "m");
        Assert.Equal(0, MakeRandom(dir).Code);
        Directory.CreateDirectory(Path.Combine(dir, "runs"));
        var r = MakeRandom(dir, "--force");
        Assert.Equal((int)ExitCode.Usage, r.Code);
        Assert.Contains("it holds runs, which make-random does not write", r.Err);
        Assert.True(Directory.Exists(Path.Combine(dir, "runs")));
    }

    /// <summary>A pid no process has: one that just ended (pids are reused only after the whole range wraps).</summary>
    internal static int DeadPid()
    {
        using var p = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("true") { UseShellExecute = false })!;
        p.WaitForExit();
        return p.Id;
    }

    [Fact]
    public void TemporariesOfADeadRunAreRemovedByTheNextRun()
    {
        string dir = Path.Combine(Fixtures.TempDir("leftover"), "m");
        int dead = DeadPid();
        string stale = Path.Combine(Path.GetDirectoryName(dir)!, $".m.tmp-{dead}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(stale);
        File.WriteAllBytes(Path.Combine(stale, "model-00001-of-00002.safetensors"), new byte[4096]);
        string staleOld = Path.Combine(Path.GetDirectoryName(dir)!, $".m.tmp-{dead}-{Guid.NewGuid():N}.old");
        Directory.CreateDirectory(staleOld);
        string alive = Path.Combine(Path.GetDirectoryName(dir)!, $".m.tmp-{Environment.ProcessId}-{Guid.NewGuid():N}"); // a live run's: kept
        Directory.CreateDirectory(alive);
        Assert.Equal(0, MakeRandom(dir).Code);
        Assert.Equal([alive], Temporaries(dir));
    }

    [SkippableFact]
    public void SigtermRemovesTheTemporaryFolderAndExits143()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "signals");
        string dir = Path.Combine(Fixtures.TempDir("sigterm"), "m");
        // full widths, two layers: 1.4 GB to write, many seconds on this machine
        using var p = CliProcess.Start(["make-random", "--like", "qwen1.5-1.8b", "--layers", "2", "--out", dir]);
        Assert.True(p.WaitUntil(() => Temporaries(dir).Length > 0 && Directory.GetFiles(Temporaries(dir)[0], "*.safetensors").Length > 0,
            TimeSpan.FromSeconds(60)), "no temporary folder appeared: " + p.Stderr);
        p.Terminate();
        var r = p.Wait(TimeSpan.FromSeconds(30));
        Assert.True(r.Code == (int)ExitCode.Terminated, $"exit {r.Code}: {r.Err}");
        Assert.EndsWith("interrupted: stopped by SIGTERM before finishing; no output was written", r.Err.TrimEnd());
        Assert.DoesNotContain("   at ", r.Err);
        Assert.Empty(Temporaries(dir));
        Assert.False(Directory.Exists(dir));
    }

    [SkippableFact]
    public void SigkillLeavesTheTemporaryFolderToTheNextRun()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "signals");
        string dir = Path.Combine(Fixtures.TempDir("sigkill"), "m");
        using (var p = CliProcess.Start(["make-random", "--like", "qwen1.5-1.8b", "--layers", "2", "--out", dir]))
        {
            Assert.True(p.WaitUntil(() => Temporaries(dir).Length > 0, TimeSpan.FromSeconds(60)), "no temporary folder appeared: " + p.Stderr);
            p.KillHard();
        }
        Assert.Single(Temporaries(dir)); // what SIGKILL leaves: nothing of the process runs
        Assert.Equal(0, MakeRandom(dir).Code);
        Assert.Empty(Temporaries(dir));
    }
}
