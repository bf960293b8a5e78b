// Quickstart: load a model, look at its tokens, the five most likely next tokens and one attention pattern.
//   dotnet run examples/quickstart.cs -- [MODEL]        (MODEL: a checkpoint folder or a Hub id; default the demo model)
#:project ../src/SharpLens/SharpLens.csproj
using SharpLens.Model;

string modelPath = args.Length > 0 ? args[0] : DemoModel.Find();
using var model = HookedTransformer.FromPretrained(modelPath);
Console.WriteLine($"model: {model.Config.NLayers} layers, {model.Config.NHeads} heads, d_model {model.Config.DModel}");

// 1. Tokens: the model owns its tokenizer (BOS is added when the family's tokenizer adds it).
string prompt = "Man has four fruits, Peach, Orange, Grape and Mango - 1 Peach 1 Orange 1 Grape and 1";
int[] ids = model.ToTokens(prompt);
string[] pieces = model.ToStrTokens(ids);
Console.WriteLine($"tokens ({ids.Length}): " + string.Join(" ", pieces.Select(p => $"[{p}]")));

// 2. One run with a cache of the hooks we want. Logits are [batch, pos, vocab].
string patternHook = $"blocks.{model.Config.NLayers / 2}.attn.hook_pattern";
var (logits, cache) = model.RunWithCache([ids], patternHook);
float[] last = logits.View(0, ^1, ..).ToArray();                 // the final position's logits
double max = last.Max(), sum = last.Sum(x => Math.Exp(x - max));
Console.WriteLine("top-5 next tokens:");
foreach (int id in Enumerable.Range(0, last.Length).OrderByDescending(i => last[i]).Take(5))
    Console.WriteLine($"  {model.Decode([id]),-12} logit {last[id],8:F3}  p {Math.Exp(last[id] - max) / sum:F4}");

// 3. An attention pattern: [batch, head, query pos, key pos]. Where does head 0 look from the final token?
Tensor pattern = cache[patternHook];
float[] row = pattern.View(0, 0, ^1, ..).ToArray();
int top = Array.IndexOf(row, row.Max());
Console.WriteLine($"{patternHook} head 0 from the final token: most attention ({row[top]:F3}) on position {top} [{pieces[top]}]");
