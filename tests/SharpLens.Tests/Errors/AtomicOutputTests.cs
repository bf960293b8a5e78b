using SharpLens.IO;
using SharpLens.Tests.Support;

namespace SharpLens.Tests.Errors;

/// <summary>Outputs are complete or absent: <see cref="AtomicFile"/> never leaves half a file or a temporary file behind.</summary>
public class AtomicOutputTests
{
    static string[] Leftovers(string dir) => Directory.GetFiles(dir, "*.tmp", SearchOption.AllDirectories);

    [Fact]
    public void WritesTheWholeFileAndNoTemporary()
    {
        string dir = Fixtures.TempDir("atomic"), path = Path.Combine(dir, "sub", "results.json");
        AtomicFile.WriteAllText(path, "{\"a\": 1}");
        Assert.Equal("{\"a\": 1}", File.ReadAllText(path));
        Assert.Empty(Leftovers(dir));
    }

    [Fact]
    public void AWriterThatFailsHalfwayLeavesTheOldFileAndNoTemporary()
    {
        string dir = Fixtures.TempDir("atomic"), path = Path.Combine(dir, "results.json");
        File.WriteAllText(path, "old");
        Assert.Throws<OperationCanceledException>(() => AtomicFile.Write(path, s =>
        {
            s.Write(new byte[4096]);
            throw new OperationCanceledException(); // Ctrl-C while writing
        }));
        Assert.Equal("old", File.ReadAllText(path));
        Assert.Empty(Leftovers(dir));
    }

    [Fact]
    public void AFailingWriterLeavesNoFileWhenThereWasNone()
    {
        string dir = Fixtures.TempDir("atomic"), path = Path.Combine(dir, "report.html");
        Assert.Throws<InvalidOperationException>(() => AtomicFile.Write(path, s => { s.WriteByte(1); throw new InvalidOperationException(); }));
        Assert.False(File.Exists(path));
        Assert.Empty(Directory.GetFileSystemEntries(dir));
    }

    [Fact]
    public void AnUnwritableDestinationIsAnOutputError()
    {
        // a file where the output directory should be: fails for root too, unlike permissions
        string dir = Fixtures.TempDir("atomic"), blocker = Path.Combine(dir, "out");
        File.WriteAllText(blocker, "not a directory");
        var e = Assert.Throws<SharpLensException>(() => AtomicFile.WriteAllText(Path.Combine(blocker, "results.json"), "{}"));
        Assert.Equal(ExitCode.Output, e.Code);
        Assert.StartsWith($"cannot write {Path.Combine(blocker, "results.json")}:", e.Message);
        Assert.Empty(Leftovers(dir));
    }

    [Fact]
    public void TheDestinationBeingADirectoryIsAnOutputError()
    {
        string dir = Fixtures.TempDir("atomic"), path = Path.Combine(dir, "results.json");
        Directory.CreateDirectory(path);
        var e = Assert.Throws<SharpLensException>(() => AtomicFile.WriteAllText(path, "{}"));
        Assert.Equal(ExitCode.Output, e.Code);
        Assert.Empty(Leftovers(dir));
    }
}
