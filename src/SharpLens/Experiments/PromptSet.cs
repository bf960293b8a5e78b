using System.Text;
using System.Text.Json.Nodes;
using SharpLens.Loading;
using SharpLens.Tokenization;

namespace SharpLens.Experiments;

/// <summary>
/// The prompts of a study, tokenized and checked before anything runs: equal lengths, single-token answers and
/// candidates, the control prompt, the model's context. Each failed check is one clear <see cref="SharpLensException"/>
/// that shows the tokens involved.
/// </summary>
public sealed record PromptSet
{
    /// <summary>The seed study's prompts (Qwen1.5-1.8B-Chat set completion).</summary>
    public const string SeedClean = "Man has four fruits, Peach, Orange, Grape and Mango - 1 Peach 1 Orange 1 Grape and 1";
    public const string SeedCorrupted = "Man has four fruits, Peach, Orange, Grape and Mango - 1 Peach 1 Mango 1 Grape and 1";
    public const string SeedAnswer = " Mango";
    public const string SeedWrong = " Orange";
    public const string SeedCandidates = " Peach| Orange| Grape| Mango";
    /// <summary>The default control text, repeated (joined by single spaces) and cut to the prompt's token length.</summary>
    public const string DefaultControlText = "The quick brown fox jumps over the lazy dog.";

    public required string Clean { get; init; }
    public required string Corrupted { get; init; }
    public required string Control { get; init; }
    public required bool ControlIsDefault { get; init; }
    public required string Answer { get; init; }
    public required string Wrong { get; init; }
    public required string[] CandidateStrings { get; init; }
    public required StudyTokens Tokens { get; init; }
    public required string[][] TokenStrings { get; init; }   // clean, corrupted, control: [pos]

    /// <summary>Positions where the clean and corrupted prompts differ.</summary>
    public int[] DifferingPositions => Enumerable.Range(0, Tokens.Length).Where(p => Tokens.Clean[p] != Tokens.Corrupted[p]).ToArray();

    /// <param name="config">the model's config, for its context length and vocabulary size; null checks the prompts against
    /// the tokenizer alone (a dataset checked before any model is chosen)</param>
    /// <param name="addSpecialTokens">the prompts (and the default control) are tokenized with the BOS the tokenizer's
    /// post-processor adds (Mistral, Gemma, Llama 3; none for GPT-2, GPT-NeoX, Qwen), as Hugging Face's default
    /// <c>add_special_tokens=True</c> and <see cref="Model.HookedTransformer.ToTokens(string, bool?)"/> do; false: the text's tokens alone</param>
    public static PromptSet Prepare(HfTokenizer tok, ModelConfig? config, string clean, string corrupted, string answer, string wrong,
        string? control = null, IReadOnlyList<string>? candidates = null, bool addSpecialTokens = true)
    {
        int[] c = Encode(tok, config, clean, "clean prompt", addSpecialTokens), k = Encode(tok, config, corrupted, "corrupted prompt", addSpecialTokens);
        if (c.Length != k.Length)
            throw SharpLensException.Input(
                $"the clean and corrupted prompts have different token lengths ({c.Length} vs {k.Length}); patching needs them aligned:\n"
                + SideBySide(tok, c, k));
        if (c.SequenceEqual(k))
            throw SharpLensException.Input("the clean and corrupted prompts have the same tokens: patching needs at least one position where they differ "
                + "(every recovery would be 0/0)");
        int a = Single(tok, config, clean, answer, "answer", nameof(answer)), w = Single(tok, config, corrupted, wrong, "wrong answer", nameof(wrong));
        if (a == w) throw SharpLensException.Input($"the answer and the wrong answer are the same token ({Show(answer)} = id {a}): the logit difference would be 0", nameof(wrong));
        var candStrings = (candidates is { Count: > 0 } ? candidates : [answer, wrong]).ToArray();
        int[] cand = candStrings.Select(s => Single(tok, config, clean, s, "candidate", nameof(candidates))).ToArray();

        int[] ctl;
        bool controlIsDefault = control == null;
        if (control == null)
        {
            ctl = DefaultControl(tok, c.Length, addSpecialTokens);
            control = tok.Decode(ctl);
        }
        else
        {
            ctl = Encode(tok, config, control, "control prompt", addSpecialTokens);
            if (ctl.Length != c.Length)
                throw SharpLensException.Input($"the control prompt has {ctl.Length} tokens but the prompts have {c.Length}; it must have the same length:\n"
                    + SideBySide(tok, c, ctl, "clean", "control"));
        }
        return new PromptSet
        {
            Clean = clean, Corrupted = corrupted, Control = control, ControlIsDefault = controlIsDefault,
            Answer = answer, Wrong = wrong, CandidateStrings = candStrings,
            Tokens = new StudyTokens { Clean = c, Corrupted = k, Control = ctl, Answer = a, Wrong = w, Candidates = cand },
            TokenStrings = [c.Select(tok.TokenText).ToArray(), k.Select(tok.TokenText).ToArray(), ctl.Select(tok.TokenText).ToArray()],
        };
    }

    /// <summary>"The quick brown fox …" joined by single spaces as often as needed, cut to <paramref name="length"/> tokens.</summary>
    public static int[] DefaultControl(HfTokenizer tok, int length, bool addSpecialTokens = true)
    {
        var text = new StringBuilder(DefaultControlText);
        int[] ids = tok.Encode(text.ToString(), addSpecialTokens).ToArray();
        while (ids.Length < length)
        {
            text.Append(' ').Append(DefaultControlText);
            ids = tok.Encode(text.ToString(), addSpecialTokens).ToArray();
        }
        return ids[..length];
    }

    static int[] Encode(HfTokenizer tok, ModelConfig? config, string text, string what, bool addSpecialTokens = false, string? parameter = null)
    {
        if (string.IsNullOrEmpty(text)) throw SharpLensException.Input($"the {what} is empty", parameter);
        var ids = tok.Encode(text, addSpecialTokens).ToArray();
        if (ids.Length == 0) throw SharpLensException.Input($"the {what} has no tokens", parameter);
        if (config == null) return ids;
        config.CheckPromptLength(ids.Length, what);
        int bad = ids.FirstOrDefault(i => i >= config.VocabSize, -1);
        if (bad >= 0) throw SharpLensException.Checkpoint($"the tokenizer produced id {bad}, but the model's vocab_size is {config.VocabSize}");
        return ids;
    }

    /// <summary>The one token <paramref name="text"/> adds after <paramref name="prompt"/>
    /// (<c>tokens(prompt + text) = tokens(prompt) + [token]</c>), so that " Mango" is one token for SentencePiece
    /// vocabularies too, where alone it encodes as <c>▁</c> + <c>▁Mango</c>.</summary>
    static int Single(HfTokenizer tok, ModelConfig? config, string prompt, string text, string what, string parameter)
    {
        Encode(tok, config, text, what + " token", parameter: parameter); // empty, no tokens, or ids beyond the vocabulary
        if (tok.TryGetAnswerToken(prompt, text) is { } id) return id;
        throw SharpLensException.Input($"the {what} {Show(text)} is not one token after its prompt: it is {tok.DescribePieces(prompt, text)}", parameter);
    }

    static string Show(string s) => "\"" + s.Replace("\n", "\\n") + "\"";

    static string SideBySide(HfTokenizer tok, int[] a, int[] b, string na = "clean", string nb = "corrupted")
    {
        var sb = new StringBuilder($"  pos  {na,-24} {nb}\n");
        for (int p = 0; p < Math.Max(a.Length, b.Length); p++)
        {
            string l = p < a.Length ? $"{Show(tok.TokenText(a[p]))} ({a[p]})" : "", r = p < b.Length ? $"{Show(tok.TokenText(b[p]))} ({b[p]})" : "";
            sb.Append($"  {p,3}  {l,-24} {r}{(l == r ? "" : "   <-")}\n");
        }
        return sb.ToString().TrimEnd();
    }

    /// <summary>The prompt metadata of results.json.</summary>
    public void Describe(JsonObject o)
    {
        o["prompts"] = new JsonObject { ["clean"] = Clean, ["corrupted"] = Corrupted, ["control"] = Control };
        o["control_source"] = ControlIsDefault ? "default" : "user";
        o["answers"] = new JsonObject { ["clean"] = Answer, ["corrupted"] = Wrong };
        o["answer_tokens"] = new JsonObject { ["clean"] = Tokens.Answer, ["corrupted"] = Tokens.Wrong };
        o["tokens"] = new JsonObject { ["clean"] = Json.Row(Tokens.Clean), ["corrupted"] = Json.Row(Tokens.Corrupted), ["control"] = Json.Row(Tokens.Control) };
        o["token_strings"] = new JsonObject
        {
            ["clean"] = Json.Row(TokenStrings[0]), ["corrupted"] = Json.Row(TokenStrings[1]), ["control"] = Json.Row(TokenStrings[2]),
        };
        o["differing_positions"] = Json.Row(DifferingPositions);
        o["candidates"] = new JsonObject { ["tokens"] = Json.Row(Tokens.Candidates), ["strings"] = Json.Row(CandidateStrings) };
    }
}
