#:project ../src/SharpLens.Reports/SharpLens.Reports.csproj
// The attention viewer for a prompt, from a script (CircuitsVis' attention_patterns):
//   dotnet run examples/attention.cs [MODEL] [OUT.html]
// MODEL: a checkpoint directory or a Hub id (default: the embedded demo model, models/setcomp-demo);
// OUT.html: where the viewer goes (default ./attention.html), clean and corrupted side by side. Beside it, OUT-shift.html
// and OUT-shift.png: a [layer][head] heatmap drawn with Figures.Heatmap. The one #:project line is the report library,
// which references SharpLens itself.
using System.Runtime.CompilerServices;
using SharpLens.Model;
using SharpLens.Reports;

string model = args.Length > 0 ? args[0] : Path.Combine(ScriptDir(), "..", "models", "setcomp-demo");
string output = args.Length > 1 ? args[1] : "attention.html";
const string clean = "Man has four fruits, Peach, Orange, Grape and Mango - 1 Peach 1 Orange 1 Grape and 1";
const string corrupted = "Man has four fruits, Peach, Orange, Grape and Mango - 1 Peach 1 Mango 1 Grape and 1";

using var m = HookedTransformer.FromPretrained(model);
var (_, cache) = m.RunWithCache([m.ToTokens(clean), m.ToTokens(corrupted)], name => name.EndsWith(".attn.hook_pattern"));
string[] cleanTokens = m.ToStrTokens(clean), corruptedTokens = m.ToStrTokens(corrupted);

// Every layer's pattern [batch, head, q, k] → [layer, head, q, k] for one batch item.
Tensor Patterns(int batch)
{
    int layers = m.Config.NLayers, heads = m.Config.NHeads, t = cleanTokens.Length;
    var all = Tensor.Zeros(layers, heads, t, t);
    for (int l = 0; l < layers; l++)
        cache[$"blocks.{l}.attn.hook_pattern"].Slice(batch).CopyTo(all.Data.AsSpan(l * heads * t * t, heads * t * t));
    return all;
}

Figures.AttentionPatterns(cleanTokens, Patterns(0), corruptedTokens, Patterns(1)).Save(output);
Console.WriteLine($"wrote {Path.GetFullPath(output)}");

// Any [layer][head] result as a heatmap: how the final token's attention moves between the two prompts
// (clean − corrupted weight on the position where they differ); diverging, centred on 0.
int diff = Enumerable.Range(0, cleanTokens.Length).First(i => cleanTokens[i] != corruptedTokens[i]);
var shift = Enumerable.Range(0, m.Config.NLayers).Select(l =>
{
    var p = cache[$"blocks.{l}.attn.hook_pattern"];   // [batch, head, q, k]
    int t = p.Shape[2];
    return Enumerable.Range(0, m.Config.NHeads).Select(h => (double)(p[0, h, t - 1, diff] - p[1, h, t - 1, diff])).ToArray();
}).ToArray();
var heatmap = Figures.Heatmap(shift, Figures.LayerLabels(shift.Length), Figures.HeadLabels(shift[0].Length),
    $"Final token's attention to position {diff}: clean − corrupted", "head", "layer", "Δ attention", centre: 0);
string stem = Path.ChangeExtension(output, null);
heatmap.Save(stem + "-shift.html");
heatmap.Save(stem + "-shift.png");
Console.WriteLine($"wrote {Path.GetFullPath(stem + "-shift.html")} and .png");

static string ScriptDir([CallerFilePath] string path = "") => Path.GetDirectoryName(path)!;
