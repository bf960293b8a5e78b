using System.CommandLine;
using System.Text;
using SharpLens.Datasets;
using SharpLens.IO;
using SharpLens.Tokenization;

namespace SharpLens.Cli.Commands;

/// <summary>
/// <c>sharplens dataset setcomp|ioi [--n N] [--seed S] [--model DIR] [--out FILE]</c>: a seeded dataset of prompt pairs as
/// JSONL (same seed and tokenizer, same bytes); <c>sharplens dataset check FILE [--model DIR]</c>: reads a dataset and
/// checks every pair against a tokenizer.
/// </summary>
internal static class DatasetCommand
{
    /// <summary>The most pairs one generator run writes (a file of them stays well under the reader's size limit).</summary>
    public const int MaxPairs = 100_000;

    public static Command Create() => new("dataset", "Generate or check datasets of clean/corrupted prompt pairs (JSONL)")
    {
        Generator("setcomp", "Set-completion pairs, as the demo model was trained on (subjects, categories, 3-5 items)",
            SetCompletionTask.Generate),
        Ioi(),
        Check(),
    };

    static Command Ioi()
    {
        var abc = new Option<string>("--abc")
        {
            Description = "corruption: s2 (a third name at S2; one position differs) or all (the paper's p_ABC: IO, S1 and S2 all other names)",
            DefaultValueFactory = _ => "s2",
        };
        abc.AcceptOnlyFromAmong("s2", "all");
        var ioi = Generator("ioi", "Indirect-object-identification pairs (Wang et al. 2022 templates, ABBA and BABA), corrupted by the ABC variant",
            (tok, n, seed, p) => IoiTask.Generate(tok, n, seed, p.GetValue(abc) == "all" ? IoiCorruption.AllNames : IoiCorruption.ThirdNameAtS2));
        ioi.Options.Add(abc);
        return ioi;
    }

    static Command Generator(string name, string description, Func<HfTokenizer, int, long, IReadOnlyList<PromptPair>> generate) =>
        Generator(name, description, (tok, n, seed, _) => generate(tok, n, seed));

    static Command Generator(string name, string description, Func<HfTokenizer, int, long, ParseResult, IReadOnlyList<PromptPair>> generate)
    {
        var n = new Option<int>("--n") { Description = $"number of pairs (1-{MaxPairs:N0})", DefaultValueFactory = _ => 100 };
        var seed = new Option<long>("--seed") { Description = "random seed (same seed and tokenizer, same file)", DefaultValueFactory = _ => 0 };
        var model = new Option<string>("--model") { Description = "model directory or Hub id whose tokenizer the answers must be single tokens of (only the tokenizer files are read; default: the embedded demo model)" };
        var outFile = new Option<string>("--out") { Description = "write the JSONL to this file (atomically) instead of stdout" };
        var cmd = new Command(name, description) { n, seed, model, outFile };
        RejectEmpty(model, outFile);
        cmd.SetAction(p => CliHost.Guard(ct =>
        {
            int count = p.GetValue(n);
            if (count < 1 || count > MaxPairs) throw SharpLensException.Usage($"--n must be between 1 and {MaxPairs:N0}, not {count}");
            var tok = HfTokenizer.Load(CliHost.ResolveModel(p.GetValue(model), ct));
            var pairs = generate(tok, count, p.GetValue(seed), p);
            byte[] bytes = Encoding.UTF8.GetBytes(PromptDataset.ToJsonl(pairs));
            if (p.GetValue(outFile) is { } path)
            {
                AtomicFile.WriteAllBytes(path, bytes);
                Console.Error.WriteLine($"wrote {pairs.Count} {name} pairs to {path}");
            }
            else
            {
                using var stdout = Console.OpenStandardOutput();
                stdout.Write(bytes);
            }
            return 0;
        }));
        return cmd;
    }

    static Command Check()
    {
        var file = new Argument<string>("FILE") { Description = "the dataset (JSONL, one pair a line)" };
        var model = new Option<string>("--model") { Description = "model directory or Hub id to check the pairs against (its tokenizer, and config.json when present; default: the embedded demo model)" };
        var cmd = new Command("check", "Read a dataset and check every pair against a model's tokenizer; every bad line is reported") { file, model };
        RejectEmpty(model);
        file.Validators.Add(r => { if (r.Tokens.Any(t => t.Value.Length == 0)) r.AddError("FILE is empty: give a path"); });
        cmd.SetAction(p => CliHost.Guard(ct =>
        {
            var dataset = PromptDataset.Load(p.GetValue(file)!);
            string dir = CliHost.ResolveModel(p.GetValue(model), ct);
            var tok = HfTokenizer.Load(dir);
            var config = File.Exists(Path.Combine(dir, "config.json")) ? Loading.ModelConfig.Load(dir) : null;
            var prepared = dataset.Prepare(tok, config);
            Console.WriteLine($"{prepared.Count} pairs, all fit the tokenizer{(config != null ? " and the model's context" : "")}; " +
                              (dataset.AllLabeled ? "every pair has labels (results aggregate by label)" : "not every pair has labels (results aggregate by offset from the final position)"));
            return 0;
        }));
        return cmd;
    }

    /// <summary>An empty path (<c>--out ""</c>) is a usage error, as on the top-level commands.</summary>
    static void RejectEmpty(params Option<string>[] options)
    {
        foreach (var option in options)
            option.Validators.Add(r => { if (r.Tokens.Any(t => t.Value.Length == 0)) r.AddError($"{option.Name} is empty: give a value"); });
    }
}
