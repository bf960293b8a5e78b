using System.Diagnostics;
using System.Text.Json.Nodes;
using SharpLens.Model;
using SharpLens.Tests.Support;

namespace SharpLens.Tests.Examples;

/// <summary>examples/batch.cs runs as a .NET 10 file-based app on the demo model: one batched run over texts of different
/// lengths prints, per text, what running that text alone gives at its last position.</summary>
/// <remarks>In the "Examples" collection: `dotnet run` of file-based apps built at once print each other's build messages.</remarks>
[Collection("Examples")]
public class BatchExampleTests
{
    [Fact]
    public async Task Example_PrintsForEachTextWhatItsRunAloneGives()
    {
        string[] texts = ["text a", "a longer text b"];
        var psi = new ProcessStartInfo("dotnet") { WorkingDirectory = Fixtures.RepoRoot, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "run", "examples/batch.cs", "--", "models/setcomp-demo" }.Concat(texts)) psi.ArgumentList.Add(a);
        // the test host's MSBuild variables would point the nested build at the wrong SDK pieces
        foreach (var k in psi.Environment.Keys.Where(k => k.StartsWith("MSBUILD", StringComparison.OrdinalIgnoreCase) || k.StartsWith("VSTEST", StringComparison.OrdinalIgnoreCase)).ToList())
            psi.Environment.Remove(k);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        Assert.True(p.WaitForExit(TimeSpan.FromMinutes(8)), "the example did not finish in 8 minutes");
        string outText = await stdout, errText = await stderr;
        Assert.True(p.ExitCode == 0, $"exit {p.ExitCode}:\n{outText}\n{errText}");

        // the JSON line (a concurrent build of another example may print build messages before it)
        string line = outText.Split('\n').Last(l => l.StartsWith('['));
        var list = JsonNode.Parse(line)!.AsArray();
        Assert.Equal(texts.Length, list.Count);
        using var model = HookedTransformer.Load(Fixtures.DemoModelDir);
        var lengths = new List<int>();
        for (int i = 0; i < texts.Length; i++)
        {
            var ids = model.ToTokens(texts[i]);
            lengths.Add(ids.Length);
            var alone = model.Run([ids]).At(0).Slice(ids.Length - 1);      // [vocab] at its last position, run alone
            int argmax = alone.IndexOf(alone.ToArray().Max());
            var item = list[i]!;
            Assert.Equal(ids, item["ids"]!.AsArray().Select(x => (int)x!).ToArray());
            Assert.Equal(argmax, (int)item["argmax"]!);
            Assert.Equal(alone[argmax], (float)item["max_logit"]!, 1e-5f);
        }
        Assert.NotEqual(lengths[0], lengths[1]);   // the batch really was padded
    }
}
