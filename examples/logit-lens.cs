// The logit lens: read the residual stream before every layer through the final norm and the unembedding, and watch
// the answer emerge layer by layer (TransformerLens: cache.accumulated_resid(apply_ln=True) @ logit directions).
//   dotnet run examples/logit-lens.cs -- [MODEL]        (default: the demo model)
// Prints one line per layer: its label (0_pre … final_post) and logit( Mango) − logit( Orange) read there.
#:project ../src/SharpLens/SharpLens.csproj
using SharpLens.Model;

using var model = HookedTransformer.FromPretrained(args.Length > 0 ? args[0] : DemoModel.Find());
const string prompt = "Man has four fruits, Peach, Orange, Grape and Mango - 1 Peach 1 Orange 1 Grape and 1";
int[] ids = model.ToTokens(prompt);
// The answer is the one token " Mango" adds after its prompt (with SentencePiece vocabularies " Mango" alone is two).
int answer = model.ToSingleToken(prompt, " Mango"), wrong = model.ToSingleToken(prompt, " Orange");

// Cache every hook point of one run; the residual stream at the final position, layer by layer, normalised by the final
// norm's scale of that run (applyLn), is a stack of [layers + 1, batch, d_model].
var (logits, cache) = model.RunWithCache([ids]);
ResidStack resid = cache.AccumulatedResid(pos: -1, applyLn: true);

// Dot each with the direction W_U[:, Mango] − W_U[:, Orange]: the logit difference each layer "would" predict.
Tensor lens = cache.LogitAttrs(resid, answer, wrong);          // [components, batch]
for (int i = 0; i < resid.Count; i++)
    Console.WriteLine($"{resid.Labels[i],-10} {lens[i, 0],10:F4}");

// The last entry is the model's own answer: the logit difference of the real logits (up to the unembedding's bias).
Console.WriteLine($"{"logits",-10} {logits[0, ids.Length - 1, answer] - logits[0, ids.Length - 1, wrong],10:F4}");
