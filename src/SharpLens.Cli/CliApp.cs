using System.CommandLine;
using SharpLens.Cli.Commands;

namespace SharpLens.Cli;

/// <summary>The command tree of the <c>sharplens</c> executable (shared by Program.cs and in-process tests).</summary>
internal static class CliApp
{
    /// <summary>The root command with every subcommand: tokenize, run, study, report, make-random, bench.</summary>
    public static RootCommand BuildRoot() => new("SharpLens: mechanistic interpretability for Qwen2/Llama-family models on the CPU")
    {
        TokenizeCommand.Create(),
        RunCommand.Create(),
        StudyCommand.Create(),
        ReportCommand.Create(),
        MakeRandomCommand.Create(),
        BenchCommand.Create(),
    };
}
