namespace SharpLens.Tests.Support;

/// <summary>Runs the built <c>sharplens</c> CLI to the end as a child process (see <see cref="CliProcess"/>).</summary>
public static class CliRunner
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr);

    public static Result RunIn(string workingDir, IDictionary<string, string>? env, params string[] args)
    {
        var (code, stdout, stderr) = CliProcess.Run(args, env, workingDir);
        return new Result(code, stdout, stderr);
    }

    public static Result Run(params string[] args) => RunIn(Fixtures.TempDir("cwd"), null, args);
}
