#:project ../src/SharpLens/SharpLens.csproj
// One batched forward pass over texts of different lengths with SharpLens.
//
//   dotnet run examples/batch.cs -- MODEL_DIR "text a" "a longer text b" …
//
// Prints a JSON list, one object per text: its token ids, and the most likely next token (id and logit) at the text's
// own last position. Each text's numbers equal running it alone.
using System.Text.Json;
using SharpLens.Model;

if (args.Length < 2)
{
    Console.Error.WriteLine("usage: dotnet run examples/batch.cs -- MODEL_DIR TEXT [TEXT…]");
    return 2;
}
using var model = HookedTransformer.Load(args[0]);

// Tokens per text (with BOS where the model's tokenizer adds one): int[batch][its own length].
int[][] ids = model.ToTokens(args[1..]);

// One run over the whole batch. Shorter texts are padded on the right up to the longest (PaddingSide.Left would end
// every text on the last row instead); an attention mask keeps the pads out of every text's own positions.
//   logits: [batch, longest, vocab]; batch: each text's length, rows and attention mask.
var (logits, batch) = model.RunBatch(ids, PaddingSide.Right);

// JSON by hand with a writer: file-based apps are trimmed, so reflection-based serialization is off.
using var json = new Utf8JsonWriter(Console.OpenStandardOutput());
json.WriteStartArray();
for (int b = 0; b < ids.Length; b++)
{
    // [vocab]: the logits at this text's own last token (row batch.LastRow(b) of the padded batch).
    float[] last = batch.LastLogits(logits, b).Data;
    int argmax = Array.IndexOf(last, last.Max());
    json.WriteStartObject();
    json.WriteStartArray("ids");
    foreach (int id in ids[b]) json.WriteNumberValue(id);
    json.WriteEndArray();
    json.WriteNumber("argmax", argmax);
    json.WriteNumber("max_logit", last[argmax]);
    json.WriteEndObject();
}
json.WriteEndArray();
json.Flush();
Console.WriteLine();
return 0;
