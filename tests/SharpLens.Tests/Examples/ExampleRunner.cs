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
        var result = Dotnet(["run", script, "--", .. args], script);
        // When `dotnet run` rebuilds the library first (a source changed since the last example), its build warnings come on
        // stdout before the example's own output: they are not the example's.
        result.Out = BuildMessage.Replace(result.Out, "");
        Assert.True(result.Code == 0, $"{script} exited {result.Code}\n{result.Out}\n{result.Err}");
        return result;
    }

    static readonly Dictionary<string, string> BuiltApps = new();

    /// <summary>The example's program, built once per test run as <c>dotnet run</c> builds it (the same output folder), so
    /// that running it on many models costs one build: <c>dotnet run</c> checks that a file-based app is up to date with
    /// an MSBuild pass each time, seconds per run.</summary>
    public static string Built(string script)
    {
        lock (BuiltApps)
        {
            if (BuiltApps.TryGetValue(script, out var dll)) return dll;
            var (code, stdout, stderr) = Dotnet(["build", script, "-t:Build", "--getProperty:TargetPath"], script);
            string path = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault() ?? "";
            Assert.True(code == 0 && File.Exists(path), $"building {script} exited {code}\n{stdout}\n{stderr}");
            return BuiltApps[script] = path;
        }
    }

    /// <summary>Runs the example's built program (<see cref="Built"/>) with ARGS from the repository root, as
    /// <c>dotnet run SCRIPT -- ARGS</c> would; the exit code is the caller's to check.</summary>
    public static (int Code, string Out, string Err) RunBuilt(string script, params string[] args) => Dotnet([Built(script), .. args], script);

    static (int Code, string Out, string Err) Dotnet(string[] args, string script)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = Fixtures.RepoRoot,
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
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
        return (p.ExitCode, stdout.Result, stderr.Result);
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
