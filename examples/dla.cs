// Direct logit attribution: split the final residual stream into what each part of the model wrote into it and measure
// each part's direct effect on logit( Mango) − logit( Orange) (TransformerLens: decompose_resid, stack_head_results,
// logit_attrs). The parts sum to the model's logit difference.
//   dotnet run examples/dla.cs -- [MODEL] [TOP]        (default: the demo model, the 5 largest heads)
// Prints the components (embed, each attn_out and mlp_out) and their sum, then the TOP heads by |attribution|.
#:project ../src/SharpLens/SharpLens.csproj
using SharpLens.Model;

using var model = HookedTransformer.FromPretrained(args.Length > 0 ? args[0] : DemoModel.Find());
int top = args.Length > 1 ? int.Parse(args[1]) : 5;
const string prompt = "Man has four fruits, Peach, Orange, Grape and Mango - 1 Peach 1 Orange 1 Grape and 1";
int[] ids = model.ToTokens(prompt);
// The answer is the one token " Mango" adds after its prompt (with SentencePiece vocabularies " Mango" alone is two).
int answer = model.ToSingleToken(prompt, " Mango"), wrong = model.ToSingleToken(prompt, " Orange");
var (_, cache) = model.RunWithCache([ids]);

// 1. Layer by layer: embed, 0_attn_out, 0_mlp_out, … at the final position; each scaled by the final norm of this run.
ResidStack parts = cache.DecomposeResid(pos: -1);
Tensor dla = cache.LogitAttrs(parts, answer, wrong);          // [components, batch]
double total = 0;
for (int i = 0; i < parts.Count; i++) { Console.WriteLine($"{parts.Labels[i],-12} {dla[i, 0],10:F4}"); total += dla[i, 0]; }
Console.WriteLine($"{"sum",-12} {total,10:F4}");

// 2. Head by head: every head's output (hook_result, from hook_z and W_O), labelled L0H0, L0H1, …
ResidStack heads = cache.StackHeadResults(pos: -1);
Tensor perHead = cache.LogitAttrs(heads, answer, wrong);
Console.WriteLine($"top {top} heads:");
foreach (int i in Enumerable.Range(0, heads.Count).OrderByDescending(i => Math.Abs(perHead[i, 0])).Take(top))
    Console.WriteLine($"{heads.Labels[i],-12} {perHead[i, 0],10:F4}");
