#:project ../src/SharpLens/SharpLens.csproj
// Path patching with SharpLens: which later components read one attention head's output?
//
//   dotnet run examples/path-patching.cs -- [MODEL_DIR] [LAYER.HEAD[,LAYER.HEAD…]]
//
// With no arguments it studies the set-completion demo model (models/setcomp-demo) on the seed prompts and picks the
// sender the way `sharplens study` does: the head whose final-position output, patched alone, recovers the most.
using SharpLens.Experiments;
using SharpLens.Model;
using SharpLens.Tokenization;

string dir = args.Length > 0 ? args[0] : "models/setcomp-demo";
using var model = HookedTransformer.Load(dir);
var tokenizer = HfTokenizer.Load(dir);

// A prompt pair: the corrupted prompt swaps which fruit was already counted, so the right next fruit flips from
// " Mango" (clean) to " Orange" (corrupted). PromptSet checks lengths and single-token answers for us.
var prompts = PromptSet.Prepare(tokenizer, model.Config, PromptSet.SeedClean, PromptSet.SeedCorrupted,
    PromptSet.SeedAnswer, PromptSet.SeedWrong);

// The senders: from the command line ("1.0" or "1.0,1.1", patched together), or null for the default rule.
List<(int Layer, int Head)>? senders = args.Length > 1
    ? args[1].Split(',').Select(s => s.Split('.')).Select(p => (int.Parse(p[0]), int.Parse(p[1]))).ToList()
    : null;

// One call runs both stages of path patching (Wang et al. 2022) and TransformerLens' direct-path variant:
//   stage 1: the corrupted prompt with every head frozen to its corrupted output except the senders' (clean);
//   stage 2: one corrupted run per receiver, its q / k / v (or an MLP's output) taken from stage 1.
// Recovery = (patched − corrupted) / (clean − corrupted) of the logit difference: 1 = the clean answer is back.
PathPatchingResult result = Circuits.PathPatching(model, prompts, senders);

string Name((int Layer, int Head) s) => $"L{s.Layer}H{s.Head}";
Console.WriteLine($"sender: {string.Join(" + ", result.Senders.Select(Name))}");
Console.WriteLine($"through the MLPs and the residual stream alone: recovery {result.ToResidFinal:0.000}");

// Every receiver with its exact and (for heads) direct-path recovery; the strongest first.
var receivers = new List<(string Receiver, double Exact, double? Direct)>();
for (int l = 0; l < model.Config.NLayers; l++)
{
    for (int h = 0; h < model.Config.NHeads; h++) receivers.Add(($"L{l}H{h} query", result.ToQ[l][h], result.DirectToQ?[l][h]));
    for (int g = 0; g < model.Config.NKvHeads; g++)
    {
        receivers.Add(($"L{l}G{g} key", result.ToK[l][g], result.DirectToK?[l][g]));
        receivers.Add(($"L{l}G{g} value", result.ToV[l][g], result.DirectToV?[l][g]));
    }
    receivers.Add(($"MLP L{l}", result.ToMlp[l], null));
}
Console.WriteLine("strongest receivers (exact path; direct path where it applies):");
foreach (var r in receivers.OrderByDescending(r => Math.Abs(r.Exact)).Take(5))
    Console.WriteLine($"  {r.Receiver,-14} {r.Exact,7:0.000}{(r.Direct is double d ? $"   direct {d,7:0.000}" : "")}");

// What it found, in one line: the receiver that reads the sender most.
var top = receivers.MaxBy(r => Math.Abs(r.Exact));
Console.WriteLine($"found: {top.Receiver} reads {string.Join(" + ", result.Senders.Select(Name))} most (recovery {top.Exact:0.000})");
