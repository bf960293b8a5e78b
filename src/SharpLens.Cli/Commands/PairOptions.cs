using System.CommandLine;
using SharpLens.Experiments;

namespace SharpLens.Cli.Commands;

/// <summary>
/// The options of a command that studies one clean/corrupted prompt pair (<c>study</c>, <c>path</c>): the model, the two
/// prompts (inline or from files), the two answers and the output folder, each defaulting to the seed study.
/// </summary>
internal sealed class PairOptions
{
    public Option<string?> Model { get; } = CommonOptions.Model();
    public Option<string> Clean { get; } = new("--clean") { Description = "clean prompt", DefaultValueFactory = _ => PromptSet.SeedClean };
    public Option<string?> CleanFile { get; } = new("--clean-file") { Description = "read the clean prompt from a UTF-8 file (one final line break is dropped)" };
    public Option<string> Corrupted { get; } = new("--corrupted") { Description = "corrupted prompt (same token length)", DefaultValueFactory = _ => PromptSet.SeedCorrupted };
    public Option<string?> CorruptedFile { get; } = new("--corrupted-file") { Description = "read the corrupted prompt from a UTF-8 file" };
    public Option<string> Answer { get; } = new("--answer") { Description = "the clean prompt's answer (one token)", DefaultValueFactory = _ => PromptSet.SeedAnswer };
    public Option<string> Wrong { get; } = new("--wrong") { Description = "the corrupted prompt's answer (one token)", DefaultValueFactory = _ => PromptSet.SeedWrong };
    public Option<string> Out { get; } = new("--out") { Description = "output directory", DefaultValueFactory = _ => "./sharplens-out" };

    /// <summary>Adds every option to <paramref name="cmd"/>.</summary>
    public void AddTo(Command cmd)
    {
        foreach (var o in new Option[] { Model, Clean, CleanFile, Corrupted, CorruptedFile, Answer, Wrong, Out }) cmd.Options.Add(o);
    }

    /// <summary>The clean and corrupted prompt texts (inline or read from their files).</summary>
    public (string Clean, string Corrupted) Prompts(ParseResult p) =>
        (CliHost.Text(p, Clean, CleanFile, required: true)!, CliHost.Text(p, Corrupted, CorruptedFile, required: true)!);

    /// <summary>The full path of --out.</summary>
    public string OutPath(ParseResult p) => Path.GetFullPath(p.GetValue(Out)!);
}
