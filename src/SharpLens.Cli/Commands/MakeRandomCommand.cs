using System.CommandLine;
using System.Diagnostics;
using SharpLens.Loading;

namespace SharpLens.Cli.Commands;

/// <summary>
/// <c>sharplens make-random --like PRESET --out DIR [--seed N] [--layers N] [--small] [--force]</c>: a checkpoint with
/// random weights and a real model's exact shapes, config.json and tokenizer, for measuring speed and memory without
/// the real weights.
/// </summary>
internal static class MakeRandomCommand
{
    public static Command Create()
    {
        var like = new Option<string>("--like") { Description = $"architecture preset: {string.Join(", ", RandomCheckpoint.Presets.Keys)}", Required = true };
        var outDir = new Option<string>("--out") { Description = "directory to create (must not exist, or be empty)", Required = true };
        var seed = new Option<ulong>("--seed") { Description = "random seed (same seed, same weights)", DefaultValueFactory = _ => 0UL };
        var layers = new Option<int?>("--layers") { Description = "number of decoder layers (default: the preset's)" };
        var small = new Option<bool>("--small") { Description = "every width divided by 16, vocabulary and architecture features kept (for tests)" };
        var force = new Option<bool>("--force") { Description = "replace --out if make-random wrote it (its marker file and nothing but its files)" };
        var cmd = new Command("make-random", "Write a random-weight checkpoint with a real model's shapes, config and tokenizer")
            { like, outDir, seed, layers, small, force };
        cmd.SetAction(p => CliHost.Guard(ct =>
        {
            var spec = RandomCheckpoint.Preset(p.GetValue(like)!);
            if (p.GetValue(small)) spec = spec.Small();
            if (p.GetValue(layers) is { } n) spec = spec.WithLayers(n);
            string dest = Path.GetFullPath(p.GetValue(outDir)!);
            RandomCheckpoint.CheckDestination(dest, p.GetValue(force)); // refused before anything is said or written
            long bytes = RandomCheckpoint.WeightBytes(spec);
            Console.Error.WriteLine($"writing {spec.Name}: {spec.Architecture}, {spec.NLayers} layers, d_model {spec.DModel}, d_mlp {spec.DMlp}, " +
                                    $"{spec.NHeads} heads ({spec.NKvHeads} kv), vocab {spec.VocabSize}, tokenizer {spec.Tokenizer}, {bytes / 1e9:0.00} GB bf16 → {dest}");
            var sw = Stopwatch.StartNew();
            var last = TimeSpan.Zero;
            RandomCheckpoint.Write(spec, dest, p.GetValue(seed), p.GetValue(force), (done, total) =>
            {
                if (sw.Elapsed - last < TimeSpan.FromSeconds(1) && done < total) return;
                last = sw.Elapsed;
                string line = $"{done / 1e9:0.00}/{total / 1e9:0.00} GB ({100.0 * done / Math.Max(1, total):0}%)";
                if (Console.IsErrorRedirected) { if (done >= total) Console.Error.WriteLine(line); }
                else Console.Error.Write($"\r{line}   " + (done >= total ? "\n" : ""));
            }, ct);
            Console.WriteLine($"wrote {dest} ({bytes / 1e9:0.00} GB in {sw.Elapsed.TotalSeconds:0.0} s)");
            return 0;
        }));
        return cmd;
    }
}
