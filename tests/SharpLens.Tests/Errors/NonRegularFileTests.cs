using System.Runtime.InteropServices;
using SharpLens.Experiments;
using SharpLens.IO;
using SharpLens.Tests.Support;

namespace SharpLens.Tests.Errors;

/// <summary>
/// Only regular files are read (issue 17, item 7): a FIFO in place of a model file, a prompt file or report's input, a
/// device such as /dev/zero, or a prompt file over the 16 MB limit is refused at once — never a hang, never memory filled.
/// </summary>
public class NonRegularFileTests
{
    static readonly TimeSpan Quick = TimeSpan.FromSeconds(30);

    [DllImport("libc", SetLastError = true)]
    static extern int mkfifo(string path, uint mode);

    /// <summary>Replaces <paramref name="path"/> (if any) with a FIFO nobody writes to: opening it for reading blocks.</summary>
    internal static void MakeFifo(string path)
    {
        File.Delete(path);
        Assert.True(mkfifo(path, Convert.ToUInt32("644", 8)) == 0, $"mkfifo {path}: errno {Marshal.GetLastPInvokeError()}");
    }

    static (int Code, string Out, string Err) RunQuickly(params string[] args)
    {
        using var p = CliProcess.Start(args);
        return p.Wait(Quick); // a hang is a TimeoutException: the test fails instead of waiting forever
    }

    static string AssertRefused((int Code, string Out, string Err) r, ExitCode expected)
    {
        Assert.True((int)expected == r.Code, $"exit code {r.Code}, expected {(int)expected}; stderr: {r.Err}");
        string err = r.Err.TrimEnd();
        Assert.DoesNotContain("   at ", err);
        Assert.Single(err.Split('\n'));
        return err;
    }

    [SkippableTheory]
    [InlineData(BrokenModel.Shard1)]
    [InlineData(BrokenModel.IndexFile)]
    [InlineData("config.json")]
    [InlineData("tokenizer.json")]
    [InlineData("tokenizer_config.json")]
    public void AFifoAsAModelFileIsACheckpointError(string file)
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "FIFOs are made with mkfifo");
        string dir = BrokenModel.Copy();
        MakeFifo(Path.Combine(dir, file));
        string err = AssertRefused(RunQuickly("run", "--model", dir, "--text", "Peach"), ExitCode.Checkpoint);
        Assert.Contains($"{Path.Combine(dir, file)}: is a FIFO (named pipe), not a regular file", err);
    }

    [SkippableFact]
    public void AFifoAsASingleModelSafetensorsIsACheckpointError()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "FIFOs are made with mkfifo");
        string dir = BrokenModel.Copy();
        File.Delete(Path.Combine(dir, BrokenModel.IndexFile));
        MakeFifo(Path.Combine(dir, "model.safetensors"));
        string err = AssertRefused(RunQuickly("run", "--model", dir, "--text", "Peach"), ExitCode.Checkpoint);
        Assert.Contains("model.safetensors: is a FIFO (named pipe), not a regular file", err);
    }

    [SkippableFact]
    public void AFifoAsAPromptFileIsAnInputError()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "FIFOs are made with mkfifo");
        string fifo = Path.Combine(Fixtures.TempDir("fifo"), "clean.txt");
        MakeFifo(fifo);
        string outDir = Path.Combine(Fixtures.TempDir("fifo"), "out");
        string err = AssertRefused(RunQuickly("study", "--model", Fixtures.Dir("tiny-qwen2"), "--clean-file", fifo, "--out", outDir), ExitCode.Input);
        Assert.Equal($"error: --clean-file {fifo}: is a FIFO (named pipe), not a regular file; only regular files are read", err);
        Assert.False(Directory.Exists(outDir));
    }

    [SkippableFact]
    public void DevZeroAsAPromptFileIsRefusedAtOnce()
    {
        Skip.IfNot(File.Exists("/dev/zero"), "no /dev/zero");
        string err = AssertRefused(RunQuickly("tokenize", "--model", Fixtures.Dir("tiny-qwen2"), "--text-file", "/dev/zero"), ExitCode.Input);
        Assert.Equal("error: --text-file /dev/zero: is a character device, not a regular file; only regular files are read", err);
    }

    [Fact]
    public void AGigabytePromptFileIsRefusedAtOnceWithTheLimit()
    {
        string path = Path.Combine(Fixtures.TempDir("big"), "prompt.txt");
        using (var fs = File.Create(path)) fs.SetLength(1L << 30); // sparse: costs no disk
        string err = AssertRefused(RunQuickly("tokenize", "--model", Fixtures.Dir("tiny-qwen2"), "--text-file", path), ExitCode.Input);
        Assert.Equal($"error: --text-file {path}: 1073.7 MB is over the 16 MB limit for prompt files; a prompt is text for the model's context", err);
    }

    [Fact]
    public void APromptFileAtTheLimitIsRead()
    {
        string path = Path.Combine(Fixtures.TempDir("limit"), "prompt.txt");
        File.WriteAllText(path, PromptSet.SeedClean);
        Assert.Equal(PromptSet.SeedClean, TextFiles.ReadStrictUtf8(path, "--text-file"));
        using (var fs = File.OpenWrite(path)) fs.SetLength(RegularFile.PromptLimitBytes + 1);
        Assert.Equal(ExitCode.Input, Assert.Throws<SharpLensException>(() => TextFiles.ReadStrictUtf8(path, "--text-file")).Code);
        using (var fs = File.OpenWrite(path)) fs.SetLength(RegularFile.PromptLimitBytes); // exactly the limit (NULs are UTF-8)
        Assert.Equal(RegularFile.PromptLimitBytes, TextFiles.ReadStrictUtf8(path, "--text-file").Length);
    }

    [SkippableFact]
    public void AFifoAsReportInputIsAnInputError()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "FIFOs are made with mkfifo");
        string fifo = Path.Combine(Fixtures.TempDir("fifo"), "results.json");
        MakeFifo(fifo);
        string err = AssertRefused(RunQuickly("report", fifo), ExitCode.Input);
        Assert.Equal($"error: {fifo}: is a FIFO (named pipe), not a regular file; only regular files are read", err);
    }
}
