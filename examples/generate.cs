// Generation: continue a prompt greedily (the argmax at every step), then steer it with a hook that is active at every
// step (TransformerLens: model.generate with hooks).
//   dotnet run examples/generate.cs -- [MODEL] [PROMPT] [N]     (default: the demo model, a set-completion prompt, 4 tokens)
// Prints the greedy continuation, then the continuation with layer 0's attention output zeroed.
#:project ../src/SharpLens/SharpLens.csproj
using SharpLens.Model;

using var model = HookedTransformer.FromPretrained(args.Length > 0 ? args[0] : DemoModel.Find());
string prompt = args.Length > 1 ? args[1] : "Man has four fruits, Peach, Orange, Grape and Mango - 1 Peach 1 Orange 1 Grape and 1";
int n = args.Length > 2 ? int.Parse(args[2]) : 4;

// Greedy (temperature 0, the default): keys and values are reused between steps, so each step runs one position.
string greedy = model.Generate(prompt, maxNewTokens: n);
Console.WriteLine($"greedy: {greedy}");

// With a hook active at every step: zero layer 0's attention output (positions it sees are the new ones each step).
var ablate = new HookSet().Add("blocks.0.hook_attn_out", (act, _) => act.View().Fill(0));
string ablated = model.Generate(prompt, maxNewTokens: n, hooks: ablate);
Console.WriteLine($"ablated: {ablated}");
