using System.CommandLine;
using SharpLens.Cli.Commands;

namespace SharpLens.Cli;

/// <summary>The command tree of the <c>sharplens</c> executable (shared by Program.cs and in-process tests).</summary>
internal static class CliApp
{
    /// <summary>The root command with every subcommand: tokenize, run, generate, study, path, circuit, report, merge, make-random, bench, dataset, train.</summary>
    public static RootCommand BuildRoot()
    {
        var root = new RootCommand("SharpLens: mechanistic interpretability for Hugging Face transformer checkpoints (Qwen2, Llama, Mistral, Qwen3, Gemma 2, Phi-3, GPT-2, GPT-NeoX) on the CPU")
        {
            TokenizeCommand.Create(),
            RunCommand.Create(),
            GenerateCommand.Create(),
            StudyCommand.Create(),
            PathCommand.Create(),
            CircuitCommand.Create(),
            ReportCommand.Create(),
            MergeCommand.Create(),
            MakeRandomCommand.Create(),
            BenchCommand.Create(),
            DatasetCommand.Create(),
            TrainCommand.Create(),
        };
        foreach (var command in root.Subcommands) RejectEmptyStrings(command);
        return root;
    }

    /// <summary>An empty string given as a path (<c>--out ""</c>, a file argument) is a usage error, not a path.</summary>
    static void RejectEmptyStrings(Command command)
    {
        // Paths only: an empty prompt (--text "") is an input error with its own message.
        foreach (var option in command.Options.OfType<Option<string>>().Where(o => o.Name is "--out" or "--model" || o.Name.EndsWith("-file")))
            option.Validators.Add(r =>
            {
                if (r.Tokens.Any(t => t.Value.Length == 0)) r.AddError($"{option.Name} is empty: give a value");
            });
        foreach (var argument in command.Arguments)
            argument.Validators.Add(r =>
            {
                if (r.Tokens.Any(t => t.Value.Length == 0)) r.AddError($"{argument.Name} is empty: give a value");
            });
    }
}
