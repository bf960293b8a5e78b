using System.Diagnostics;
using System.Globalization;
using SharpLens.Experiments;
using SharpLens.Model;
using SharpLens.Tests.Support;
using SharpLens.Tokenization;

namespace SharpLens.Tests.Examples;

/// <summary>examples/path-patching.cs runs as a .NET 10 file-based app (<c>dotnet run examples/path-patching.cs -- …</c>)
/// on the demo model and prints what the library computes.</summary>
/// <remarks>In the "Examples" collection: `dotnet run` of file-based apps built at once print each other's build messages.</remarks>
[Collection("Examples")]
public class PathPatchingExampleTests
{
    [Fact]
    public async Task Example_RunsOnTheDemoModel_AndPrintsTheLibrarysResult()
    {
        var psi = new ProcessStartInfo("dotnet") { WorkingDirectory = Fixtures.RepoRoot, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "run", "examples/path-patching.cs", "--", Fixtures.DemoModelDir, "1.1" }) psi.ArgumentList.Add(a);
        // the test host's MSBuild variables would point the nested build at the wrong SDK pieces
        foreach (var k in psi.Environment.Keys.Where(k => k.StartsWith("MSBUILD", StringComparison.OrdinalIgnoreCase) || k.StartsWith("VSTEST", StringComparison.OrdinalIgnoreCase)).ToList())
            psi.Environment.Remove(k);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        Assert.True(p.WaitForExit(TimeSpan.FromMinutes(8)), "the example did not finish in 8 minutes");
        string outText = await stdout, errText = await stderr;
        Assert.True(p.ExitCode == 0, $"exit {p.ExitCode}:\n{outText}\n{errText}");
        string output = outText;

        using var model = HookedTransformer.Load(Fixtures.DemoModelDir);
        var prompts = PromptSet.Prepare(HfTokenizer.Load(Fixtures.DemoModelDir), model.Config, PromptSet.SeedClean, PromptSet.SeedCorrupted,
            PromptSet.SeedAnswer, PromptSet.SeedWrong);
        var result = Circuits.PathPatching(model, prompts, [(1, 1)]);
        string F(double x) => x.ToString("0.000", CultureInfo.InvariantCulture);
        Assert.Contains("sender: L1H1", output);
        Assert.Contains($"through the MLPs and the residual stream alone: recovery {F(result.ToResidFinal)}", output);
        int best = Enumerable.Range(0, result.ToMlp.Length).MaxBy(l => Math.Abs(result.ToMlp[l]));
        Assert.Contains($"found: MLP L{best} reads L1H1 most (recovery {F(result.ToMlp[best])})", output);
    }
}
