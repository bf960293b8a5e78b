using System.Diagnostics;
using SharpLens.Tests.Support;

namespace SharpLens.Tests.Sharding;

/// <summary>
/// A real Slurm cluster (the one node tools/slurm-one-node.sh starts, as .ci/run does): deploy/slurm-study.sh submitted
/// with <c>sbatch --array=0-3 --wait</c> runs the sharded dataset study, the shards are merged, and the merge equals the
/// unsharded study. Skipped, saying why, only where Slurm is not installed or its cluster cannot be brought up.
/// </summary>
public class SlurmJobArrayTests
{
    [SkippableFact]
    public void JobArray_OfTheShardedDatasetStudy_MergesToTheUnshardedResult()
    {
        Skip.IfNot(SlurmCluster.IsUp(out string why), why);
        string cwd = Fixtures.TempDir("slurm");
        DatasetShardTests.MakeDataset(cwd, 6);
        string[] options = [.. DatasetShardTests.Options, "--pairs-per-batch", "2"];   // 3 tiles of 2 pairs: the shards split them, batched
        var full = CliRunner.RunIn(cwd, null, ["study", "--dataset", "pairs.jsonl", .. options, "--no-report", "--out", "full"]);
        Assert.True(full.ExitCode == 0, full.Stderr);

        // the README's script, as a user submits it; tasks run as this user on this machine, so they reach the built CLI
        string script = Path.Combine(Fixtures.RepoRoot, "deploy", "slurm-study.sh");
        string name = $"sharplens-test-{Guid.NewGuid():N}"[..24];
        var (code, output) = SlurmCluster.Run("sbatch", ["--array=0-3", "--wait", "--cpus-per-task=1", "--mem=2G", "--time=10",
            $"--job-name={name}", $"--chdir={cwd}", $"--output={cwd}/slurm-%a.out", script, "pairs.jsonl", "out", .. options],
            new Dictionary<string, string> { ["SHARPLENS"] = $"dotnet {CliProcess.Dll}", ["NO_COLOR"] = "1" }, TimeSpan.FromMinutes(8));
        if (code == -1) SlurmCluster.Run("scancel", [$"--name={name}"], null, TimeSpan.FromSeconds(30));   // sbatch killed: its tasks too
        string logs = string.Join("\n", Directory.GetFiles(cwd, "slurm-*.out").Order().Select(f => $"--- {Path.GetFileName(f)}\n{File.ReadAllText(f)}"));
        Assert.True(code == 0, $"sbatch --wait exited {code}: {output}\n{logs}");
        Assert.Equal(4, Directory.GetFiles(cwd, "slurm-*.out").Length);

        var merge = CliRunner.RunIn(cwd, null, "merge", "out/shard-0", "out/shard-1", "out/shard-2", "out/shard-3", "--no-report", "--out", "merged");
        Assert.True(merge.ExitCode == 0, merge.Stderr + logs);
        ShardCliTests.AssertSameResults(ShardCliTests.Read(Path.Combine(cwd, "full", "results.json")),
            ShardCliTests.Read(Path.Combine(cwd, "merged", "results.json")));
        for (int i = 0; i < 4; i++)   // each task computed its own shard, numbered by SLURM_ARRAY_TASK_ID
            Assert.Equal(i, ShardCliTests.Read(Path.Combine(cwd, "out", $"shard-{i}", "shard.json"))["sharplens_shard"]!["index"]!.GetValue<int>());
    }
}

/// <summary>Whether a Slurm cluster answers here, bringing up the one-node cluster of tools/slurm-one-node.sh once when
/// Slurm is installed but down.</summary>
internal static class SlurmCluster
{
    static readonly Lazy<(bool Up, string Why)> State = new(Probe);

    public static bool IsUp(out string why)
    {
        (bool up, why) = State.Value;
        return up;
    }

    static (bool, string) Probe()
    {
        const string how = "tools/slurm-one-node.sh (which .ci/run runs as root) installs Debian's slurm-wlm and munge and starts a one-node cluster";
        if (!OnPath("sinfo") || !OnPath("sbatch")) return (false, $"Slurm is not installed here (no sinfo/sbatch on PATH); {how}");
        if (NodeReady()) return (true, "");
        string tool = Path.Combine(Fixtures.RepoRoot, "tools", "slurm-one-node.sh");
        var (code, output) = Run(tool, [], null, TimeSpan.FromMinutes(3));
        return NodeReady() ? (true, "") : (false, $"Slurm is installed but no node is up, and {tool} could not start one (exit {code}): {output.Trim()}");
    }

    static bool NodeReady()
    {
        var (code, output) = Run("sinfo", ["-h", "-o", "%t"], null, TimeSpan.FromSeconds(20));
        return code == 0 && output.Split('\n').Any(s => s.Trim() is "idle" or "mix" or "alloc");
    }

    static bool OnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Any(d => d.Length > 0 && File.Exists(Path.Combine(d, name)));

    /// <summary>Runs a command to the end (killed after <paramref name="timeout"/>): exit code and stdout + stderr.</summary>
    public static (int Code, string Output) Run(string file, IEnumerable<string> args, IDictionary<string, string>? env, TimeSpan timeout)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        foreach (var (k, v) in env ?? new Dictionary<string, string>()) psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeout))
        {
            p.Kill(entireProcessTree: true);
            return (-1, $"timed out after {timeout}: {stdout.Result}{stderr.Result}");
        }
        return (p.ExitCode, stdout.Result + stderr.Result);
    }
}
