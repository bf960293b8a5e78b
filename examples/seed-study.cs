// The seed's investigation, step by step, as TransformerLens' Exploratory Analysis Demo teaches it: why does the demo
// model complete "… - 1 Peach 1 Orange 1 Grape and 1" with " Mango", the one fruit not yet listed?
//   dotnet run examples/seed-study.cs -- [MODEL]        (default: the demo model)
// `sharplens study` runs all of this (and more) in one go; here each step is a few lines of the library.
#:project ../src/SharpLens/SharpLens.csproj
using SharpLens.Model;

using var model = HookedTransformer.FromPretrained(args.Length > 0 ? args[0] : DemoModel.Find());
int L = model.Config.NLayers, H = model.Config.NHeads;

// Step 0 — the task. Clean: Orange is listed, Mango is missing. Corrupted: Mango listed instead, Orange missing.
const string cleanText = "Man has four fruits, Peach, Orange, Grape and Mango - 1 Peach 1 Orange 1 Grape and 1";
const string corruptedText = "Man has four fruits, Peach, Orange, Grape and Mango - 1 Peach 1 Mango 1 Grape and 1";
int[] clean = model.ToTokens(cleanText);
int[] corrupted = model.ToTokens(corruptedText);
// The answer is the one token " Mango" adds after its prompt (with SentencePiece vocabularies " Mango" alone is two).
int answer = model.ToSingleToken(cleanText, " Mango"), wrong = model.ToSingleToken(corruptedText, " Orange");
int T = clean.Length, last = T - 1;
string[] pieces = model.ToStrTokens(clean);
double Diff(Tensor logits) => logits[0, last, answer] - logits[0, last, wrong];

// Step 1 — the metric. The logit difference on both prompts: a large positive and a large negative number means the
// model does the task, and "recovery" (patched − corrupted)/(clean − corrupted) measures any patch against it.
var (cleanLogits, cache) = model.RunWithCache([clean]);
Tensor corruptedLogits = model.Run([corrupted]);
double cleanDiff = Diff(cleanLogits), corruptedDiff = Diff(corruptedLogits);
double Recovery(Tensor patched) => (Diff(patched) - corruptedDiff) / (cleanDiff - corruptedDiff);
Console.WriteLine($"step 1  logit diff: clean {cleanDiff:F4}, corrupted {corruptedDiff:F4}");

// Step 2 — direct logit attribution: which layers write the answer directly (the parts sum to the clean logit diff)?
ResidStack parts = cache.DecomposeResid(pos: -1);
Tensor dla = cache.LogitAttrs(parts, answer, wrong);
Console.WriteLine("step 2  direct logit attribution: " + string.Join(", ", parts.Labels.Select((l, i) => $"{l} {dla[i, 0]:F2}")));

// Step 3 — the logit lens: from which layer on does the residual stream already predict Mango over Orange?
ResidStack resid = cache.AccumulatedResid(pos: -1, applyLn: true);
Tensor lens = cache.LogitAttrs(resid, answer, wrong);
Console.WriteLine("step 3  logit lens: " + string.Join(", ", resid.Labels.Select((l, i) => $"{l} {lens[i, 0]:F2}")));

// Step 4 — heads: each head's direct attribution; the largest one is where we look at attention.
ResidStack heads = cache.StackHeadResults(pos: -1);
Tensor perHead = cache.LogitAttrs(heads, answer, wrong);
int best = Enumerable.Range(0, heads.Count).MaxBy(i => Math.Abs(perHead[i, 0]));
Console.WriteLine($"step 4  head with the largest direct attribution: {heads.Labels[best]} {perHead[best, 0]:F4}");

// Step 5 — attention patterns from the final token ([batch, head, query, key]): what does each head of layer 1 read?
int attnLayer = Math.Min(1, L - 1);
Tensor pattern = cache[$"blocks.{attnLayer}.attn.hook_pattern"];
for (int h = 0; h < H; h++)
{
    float[] row = pattern.View(0, h, last, ..).ToArray();
    int k = Array.IndexOf(row, row.Max());
    Console.WriteLine($"step 5  L{attnLayer}H{h} attends from the final token to position {k} [{pieces[k]}] ({row[k]:F3})");
}

// Step 6 — activation patching of the residual stream: copy the clean resid_pre at one (layer, position) into the
// corrupted run. Where the recovery is 1, that position at that layer carries all the information the answer needs.
Console.WriteLine("step 6  residual stream patching, the best position per layer:");
for (int l = 0; l < L; l++)
{
    string hook = $"blocks.{l}.hook_resid_pre";
    Tensor source = cache[hook];
    var rec = Enumerable.Range(0, T).Select(p => Recovery(model.RunWithHooks([corrupted],
        new HookSet().Add(hook, (x, _) => x.View(.., p).Set(source.View(.., p)))))).ToArray();
    int p = Array.IndexOf(rec, rec.Max());
    Console.WriteLine($"        layer {l}: position {p} [{pieces[p]}] recovers {rec[p]:F4}");
}

// Step 7 — attention vs MLP: patch each layer's attention output and MLP output at the final position only.
for (int l = 0; l < L; l++)
{
    double Patch(string hook) => Recovery(model.RunWithHooks([corrupted],
        new HookSet().Add(hook, (x, _) => x.View(.., last).Set(cache[hook].View(.., last)))));
    Console.WriteLine($"step 7  layer {l}: attn_out {Patch($"blocks.{l}.hook_attn_out"):F4}, mlp_out {Patch($"blocks.{l}.hook_mlp_out"):F4}");
}

// Step 8 — heads: patch each head's z at every position; the heads that recover most are the circuit's movers.
var headRec = new List<(string Head, double Recovery)>();
for (int l = 0; l < L; l++)
    for (int h = 0; h < H; h++)
    {
        string hook = $"blocks.{l}.attn.hook_z";
        int head = h;
        headRec.Add(($"L{l}H{h}", Recovery(model.RunWithHooks([corrupted],
            new HookSet().Add(hook, (z, _) => z.View(.., .., head).Set(cache[hook].View(.., .., head)))))));
    }
Console.WriteLine("step 8  head patching (hook_z, all positions), top 3: "
    + string.Join(", ", headRec.OrderByDescending(r => r.Recovery).Take(3).Select(r => $"{r.Head} {r.Recovery:F4}")));

// Step 9 — ablation: zero each layer's attention on the clean run. Redundant on clean, necessary on corrupted?
for (int l = 0; l < L; l++)
{
    var zero = new HookSet().Add($"blocks.{l}.hook_attn_out", (x, _) => x.View().Fill(0));
    Console.WriteLine($"step 9  layer {l} attention zeroed: clean {Diff(model.RunWithHooks([clean], zero)):F4}, corrupted {Diff(model.RunWithHooks([corrupted], zero)):F4}");
}
