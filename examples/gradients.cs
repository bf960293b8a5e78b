#:project ../src/SharpLens/SharpLens.csproj
// Gradients with SharpLens: one forward and one backward pass.
//
//   dotnet run examples/gradients.cs -- [MODEL_DIR]  > grads.json
//
// Prints one JSON object in the layout of fixtures/*/reference_grads.json:
//   "hooks":   d logit_diff / d activation on the corrupted seed prompt (logit_diff = logit(" Mango") − logit(" Orange")
//              at the final position), for TransformerLens-named hooks, per prompt (no batch axis);
//   "weights": d loss / d weight under the checkpoint's own tensor names and layouts, where loss is the clean prompt's
//              mean next-token cross-entropy over positions 0…T−2 (GPT-2's Conv1D [in, out], GPT-NeoX's interleaved
//              query_key_value and Phi-3's fused projections as stored; {} where a family's names are not mapped);
//   "loss":    that loss.
using System.Text.Json;
using SharpLens.Experiments;
using SharpLens.Model;

string dir = args.Length > 0 ? args[0] : "models/setcomp-demo";
using var model = HookedTransformer.Load(dir);
int[] clean = model.ToTokens(PromptSet.SeedClean), corrupted = model.ToTokens(PromptSet.SeedCorrupted);
int answer = model.ToSingleToken(PromptSet.SeedClean, PromptSet.SeedAnswer), wrong = model.ToSingleToken(PromptSet.SeedCorrupted, PromptSet.SeedWrong);

// The hooks the reference lists: the embedding, then each block's residual points, attention and MLP activations
// (a parallel block, GPT-NeoX's, has no hook_resid_mid).
var hookNames = new List<string> { HookNames.Embed };
foreach (var n in model.HookNames.Layers)
    hookNames.AddRange(new[] { n.ResidPre, n.ResidMid, n.ResidPost, n.AttnOut, n.MlpOut, n.Q, n.K, n.V, n.Pattern, n.Z, n.MlpPre, n.MlpPost }
        .Where(n.All.Contains));
var wanted = hookNames.ToHashSet();

// Backward hooks: the gradient of the logit difference at every wanted hook of the corrupted run.
GradientResult hooks = model.Backward(corrupted, Metrics.LogitDiff(answer, wrong), wanted.Contains);
// Weight gradients of the clean prompt's next-token loss (no hook gradients needed).
GradientResult loss = model.Backward(clean, Metrics.NextTokenLoss(clean), _ => false, weights: true);
Dictionary<string, Tensor> weights;
try { weights = loss.Weights!.ByCheckpointName(model.Config); }
catch (NotSupportedException e) { Console.Error.WriteLine($"weights omitted: {e.Message}"); weights = new(); }

using var stdout = Console.OpenStandardOutput();
using var json = new Utf8JsonWriter(stdout);
json.WriteStartObject();
json.WriteNumber("loss", loss.Metric);
json.WriteStartObject("hooks");
foreach (var name in hookNames)
{
    var g = hooks.HookGrads[name];
    Write(name, g.Shape[1..], g.Data);   // drop the batch axis
}
json.WriteEndObject();
json.WriteStartObject("weights");
foreach (var (name, g) in weights) Write(name, g.Shape, g.Data);
json.WriteEndObject();
json.WriteEndObject();
json.Flush();
stdout.WriteByte((byte)'\n');

void Write(string name, IEnumerable<int> shape, float[] data)
{
    json.WriteStartObject(name);
    json.WriteStartArray("shape");
    foreach (var s in shape) json.WriteNumberValue(s);
    json.WriteEndArray();
    json.WriteStartArray("data");
    foreach (var v in data) json.WriteNumberValue(v);
    json.WriteEndArray();
    json.WriteEndObject();
}
