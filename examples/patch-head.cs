// Activation patching of one attention head: copy the head's output (hook_z) at every position from the clean run into
// the corrupted run and measure how much of the clean logit difference comes back.
//   dotnet run examples/patch-head.cs -- MODEL LAYER HEAD
// Prints one JSON object: {"clean_logit_diff", "corrupted_logit_diff", "patched_logit_diff", "recovery"}.
#:project ../src/SharpLens/SharpLens.csproj
using System.Text.Json.Nodes;
using SharpLens.Model;

if (args.Length != 3 || !int.TryParse(args[1], out int layer) || !int.TryParse(args[2], out int head))
{
    Console.Error.WriteLine("usage: dotnet run examples/patch-head.cs -- MODEL LAYER HEAD");
    return 2;
}
using var model = HookedTransformer.FromPretrained(args[0]);

// The seed's pair: the corrupted prompt lists Mango instead of Orange, so Orange becomes the missing fruit.
const string cleanText = "Man has four fruits, Peach, Orange, Grape and Mango - 1 Peach 1 Orange 1 Grape and 1";
const string corruptedText = "Man has four fruits, Peach, Orange, Grape and Mango - 1 Peach 1 Mango 1 Grape and 1";
int[] clean = model.ToTokens(cleanText);
int[] corrupted = model.ToTokens(corruptedText);
// The answer is the one token " Mango" adds after its prompt (with SentencePiece vocabularies " Mango" alone is two).
int answer = model.ToSingleToken(cleanText, " Mango"), wrong = model.ToSingleToken(corruptedText, " Orange");

// The metric: logit(answer) − logit(wrong) at the final position.
double LogitDiff(Tensor logits) => logits[0, logits.Shape[1] - 1, answer] - logits[0, logits.Shape[1] - 1, wrong];

// 1. Clean run, caching only the hook we patch from: hook_z is [batch, pos, head, d_head].
string hook = $"blocks.{layer}.attn.hook_z";
var (cleanLogits, cache) = model.RunWithCache([clean], hook);
Tensor cleanZ = cache[hook];

// 2. Corrupted run, and the corrupted run with this head's z replaced by the clean one at every position.
Tensor corruptedLogits = model.Run([corrupted]);
var patch = new HookSet().Add(hook, (z, _) => z.View(.., .., head).Set(cleanZ.View(.., .., head)));
Tensor patchedLogits = model.RunWithHooks([corrupted], patch);

// 3. Recovery: 0 = no effect, 1 = the clean behaviour is fully restored.
double cleanDiff = LogitDiff(cleanLogits), corruptedDiff = LogitDiff(corruptedLogits), patchedDiff = LogitDiff(patchedLogits);
Console.WriteLine(new JsonObject
{
    ["clean_logit_diff"] = cleanDiff,
    ["corrupted_logit_diff"] = corruptedDiff,
    ["patched_logit_diff"] = patchedDiff,
    ["recovery"] = (patchedDiff - corruptedDiff) / (cleanDiff - corruptedDiff),
}.ToJsonString());
return 0;
