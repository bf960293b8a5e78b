using System.Diagnostics;
using SharpLens.Tests.Support;

namespace SharpLens.Tests.Examples;

/// <summary>
/// Runs an example as a user does: <c>dotnet run examples/NAME.cs -- ARGS</c> from the repository root. The examples share
/// the library's Debug build, so they run one at a time (the "Examples" collection).
/// </summary>
public static class ExampleRunner
{
    public static string Script(string name) => System.IO.Path.Combine(Fixtures.RepoRoot, "examples", name);

    public static (int Code, string Out, string Err) Run(string script, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = Fixtures.RepoRoot,
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        foreach (var a in new[] { "run", script, "--" }.Concat(args)) psi.ArgumentList.Add(a);
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        psi.Environment["DOTNET_NOLOGO"] = "1";
        psi.Environment.Remove("SHARPLENS_SIMD");
        // the test host's MSBuild variables would point the nested build at the wrong SDK pieces
        foreach (var k in psi.Environment.Keys.Where(k => k.StartsWith("MSBUILD", StringComparison.OrdinalIgnoreCase) || k.StartsWith("VSTEST", StringComparison.OrdinalIgnoreCase)).ToList())
            psi.Environment.Remove(k);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromMinutes(8))) { p.Kill(entireProcessTree: true); throw new TimeoutException($"{script} ran over 8 minutes"); }
        // When `dotnet run` rebuilds the library first (a source changed since the last example), its build warnings come on
        // stdout before the example's own output: they are not the example's.
        var result = (p.ExitCode, BuildMessage.Replace(stdout.Result, ""), stderr.Result);
        Assert.True(result.ExitCode == 0, $"{script} exited {result.ExitCode}\n{result.Item2}\n{result.Item3}");
        return result;
    }

    /// <summary>The last printed line that is a JSON object or list: when `dotnet run` rebuilds the library first (a
    /// changed source), its build messages come on stdout before the example's own output.</summary>
    public static string JsonLine(string text) => Lines(text).Last(l => l.StartsWith('{') || l.StartsWith('['));

    static readonly System.Text.RegularExpressions.Regex BuildMessage =
        new(@"^\S[^\n]*\(\d+,\d+\): (warning|error) [A-Z]+\d+: [^\n]*\n?", System.Text.RegularExpressions.RegexOptions.Multiline);

    public static string[] Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary>The number at the end of a printed line.</summary>
    public static double LastNumber(string line) =>
        double.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[^1].TrimEnd(')').TrimStart('('), System.Globalization.CultureInfo.InvariantCulture);
}

[CollectionDefinition("Examples", DisableParallelization = true)]
public sealed class ExamplesCollection;
