using SharpLens.Model;
using SharpLens.Tests.Support;

namespace SharpLens.Tests.Library;

/// <summary>DemoModel.Find: the demo model above the calling source file (as the examples call it), that file's folder
/// tried before the working directory.</summary>
public class DemoModelTests
{
    [Fact]
    public void FromThisSourceFile_FindsTheRepositorysDemoModel() =>
        Assert.Equal(Path.GetFullPath(Fixtures.DemoModelDir), Path.GetFullPath(DemoModel.Find()));

    [Fact]
    public void TheCallersFolderComesFirst()
    {
        string root = Directory.CreateTempSubdirectory("sharplens-demo-").FullName;
        try
        {
            string demo = Path.Combine(root, "models", "setcomp-demo"), scripts = Path.Combine(root, "a", "b");
            Directory.CreateDirectory(demo);
            Directory.CreateDirectory(scripts);
            File.WriteAllText(Path.Combine(demo, "config.json"), "{}");
            Assert.Equal(demo, DemoModel.Find(Path.Combine(scripts, "script.cs")));
        }
        finally { Directory.Delete(root, recursive: true); }
    }
}
