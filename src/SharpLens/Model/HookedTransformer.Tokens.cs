using System.Text.Json;
using SharpLens.Hub;
using SharpLens.Tokenization;

namespace SharpLens.Model;

/// <summary>
/// Loading by name and the model's own tokenizer, with TransformerLens' names: <see cref="FromPretrained"/>,
/// <c>ToTokens</c>, <see cref="ToStrTokens(string, bool?)"/>, <c>ToSingleToken</c>, <see cref="Decode"/>.
/// </summary>
public sealed partial class HookedTransformer
{
    HfTokenizer? _tokenizer;
    SpecialTokens? _special;

    /// <summary>
    /// Loads a model from a local Hugging Face directory or a Hub id (<c>org/name</c> or <c>org/name@revision</c>, resolved
    /// through the shared huggingface_hub cache and downloaded when missing, as <see cref="ModelLocator.Resolve"/> does),
    /// with its tokenizer. The memory check of <see cref="Load"/> runs before any weight is read.
    /// </summary>
    /// <param name="nameOrPath">A model directory or a Hub id.</param>
    /// <param name="hub">Hub settings; null reads them from the environment (<c>HF_HOME</c>, <c>HF_TOKEN</c>, …).</param>
    /// <param name="progress">Told about each file while it downloads.</param>
    /// <param name="promptTokens">Longest prompt planned, for the memory check.</param>
    /// <param name="ct">Cancels a download.</param>
    /// <exception cref="SharpLensException"><see cref="ExitCode.Usage"/> when <paramref name="nameOrPath"/> is neither a
    /// directory nor a Hub id; <see cref="ExitCode.Network"/> for a Hub failure; <see cref="ExitCode.Checkpoint"/> for a
    /// missing, damaged or unsupported checkpoint or tokenizer; <see cref="ExitCode.Memory"/> when it does not fit.</exception>
    public static HookedTransformer FromPretrained(string nameOrPath, HubOptions? hub = null, IProgress<DownloadProgress>? progress = null,
        int promptTokens = 128, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(nameOrPath);
        bool isDir = nameOrPath.Length > 0 && System.IO.Directory.Exists(nameOrPath);
        if (!isDir && !ModelLocator.LooksLikeHubId(nameOrPath))
            throw SharpLensException.Usage($"\"{Escape(nameOrPath)}\" is neither an existing model directory nor a Hugging Face model id such as Qwen/Qwen1.5-1.8B-Chat or org/name@revision");
        string dir = isDir ? Path.GetFullPath(nameOrPath) : ModelLocator.Resolve(nameOrPath, hub, progress, ct);
        var tokenizer = HfTokenizer.Load(dir);
        var model = Load(dir, promptTokens);
        try { tokenizer.EnsureFits(model.Config, dir); }
        catch { model.Dispose(); throw; }
        model._tokenizer = tokenizer;
        return model;
    }

    /// <summary>The model's tokenizer (<c>tokenizer.json</c> of its directory, read on first use).</summary>
    /// <exception cref="SharpLensException">(<see cref="ExitCode.Checkpoint"/>) when the directory has no usable tokenizer.</exception>
    public HfTokenizer Tokenizer
    {
        get
        {
            if (_tokenizer != null) return _tokenizer;
            var t = HfTokenizer.Load(Directory);
            t.EnsureFits(Config, Directory);
            return _tokenizer = t;
        }
    }

    SpecialTokens Special => _special ??= SpecialTokens.Read(Directory, Tokenizer);

    /// <summary>Whether <c>ToTokens</c> prepends BOS when not told: what the tokenizer's post-processor adds
    /// (TemplateProcessing, after <c>add_bos_token</c> of tokenizer_config.json: Llama, Mistral, Gemma, Phi-3 add it;
    /// Qwen and GPT-2 add none).</summary>
    public bool DefaultPrependBos => Tokenizer.AddsBos;

    /// <summary>The BOS id that <c>prependBos: true</c> prepends: the tokenizer's <c>bos_token</c>, else config.json's
    /// <c>bos_token_id</c>, else — as TransformerLens does for tokenizers without one — the EOS token; null when there is none.</summary>
    public int? BosTokenId => Special.Bos;

    /// <summary>The end-of-text id generation stops at: the tokenizer's <c>eos_token</c>, else config.json's <c>eos_token_id</c>.</summary>
    public int? EosTokenId => Special.Eos;

    /// <summary>The token ids of <paramref name="text"/> as the model's tokenizer gives them: with
    /// <paramref name="prependBos"/> null, exactly what the tokenizer's post-processor adds (Hugging Face's default
    /// <c>add_special_tokens=True</c>); false, no special tokens; true, BOS first (the post-processor's prefix, else
    /// <see cref="BosTokenId"/>), as TransformerLens' <c>prepend_bos</c>.</summary>
    /// <exception cref="SharpLensException">(<see cref="ExitCode.Input"/>) when BOS is asked for and the tokenizer has none.</exception>
    public int[] ToTokens(string text, bool? prependBos = null)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (prependBos is null) return Tokenizer.Encode(text, addSpecialTokens: true).ToArray();
        var ids = Tokenizer.Encode(text);
        if (!prependBos.Value) return ids.ToArray();
        if (Tokenizer.AddsBos) return [.. Tokenizer.SpecialPrefix, .. ids];
        int bos = BosTokenId ?? throw SharpLensException.Input("a BOS token was asked for, but neither the tokenizer nor config.json names one (and there is no EOS token to stand in)");
        return [bos, .. ids];
    }

    /// <summary>The token ids of each text (one row per text; lengths may differ).</summary>
    public int[][] ToTokens(IEnumerable<string> texts, bool? prependBos = null) => texts.Select(t => ToTokens(t, prependBos)).ToArray();

    /// <summary>Each token of <paramref name="text"/> decoded on its own, e.g. <c>["Man", " has", …]</c>.</summary>
    public string[] ToStrTokens(string text, bool? prependBos = null) => ToStrTokens(ToTokens(text, prependBos));

    /// <summary>Each id decoded on its own.</summary>
    public string[] ToStrTokens(IEnumerable<int> ids) => ids.Select(Tokenizer.TokenText).ToArray();

    /// <summary>The id of a text that is exactly one token, e.g. <c>ToSingleToken(" Mango")</c> (no BOS). A text
    /// that is one token only after a prompt (SentencePiece's <c>" Mango"</c>, alone <c>▁</c> + <c>▁Mango</c>) is found
    /// with <see cref="ToSingleToken(string, string)"/>.</summary>
    /// <exception cref="SharpLensException">(<see cref="ExitCode.Input"/>) when it is not one token; the message lists the pieces.</exception>
    public int ToSingleToken(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = Tokenizer.Encode(text);
        if (ids.Count == 1) return ids[0];
        string pieces = string.Join(" + ", ids.Select(i => $"\"{Escape(Tokenizer.TokenText(i))}\" ({i})"));
        throw SharpLensException.Input(ids.Count == 0
            ? "an empty text is no token"
            : $"\"{Escape(text)}\" is not a single token: it encodes as {ids.Count} tokens, {pieces}");
    }

    /// <summary>The one token <paramref name="answer"/> adds after <paramref name="prompt"/>:
    /// <c>tokens(prompt + answer) = tokens(prompt) + [id]</c> (the study's answer token).</summary>
    /// <exception cref="SharpLensException">(<see cref="ExitCode.Input"/>) otherwise; the message lists the pieces.</exception>
    public int ToSingleToken(string prompt, string answer)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        ArgumentNullException.ThrowIfNull(answer);
        if (Tokenizer.TryGetAnswerToken(prompt, answer) is { } id) return id;
        throw SharpLensException.Input(answer.Length == 0
            ? "an empty text is no token"
            : $"\"{Escape(answer)}\" is not a single token after its prompt: it is {Tokenizer.DescribePieces(prompt, answer)}");
    }

    /// <summary>The text of a sequence of ids (TransformerLens' <c>to_string</c>).</summary>
    public string Decode(IEnumerable<int> ids) => Tokenizer.Decode(ids);

    /// <summary>Logits [1, pos, vocab] of one text.</summary>
    public Tensor Run(string text, bool? prependBos = null) => Run([ToTokens(text, prependBos)]);

    /// <summary>Tokenizes <paramref name="texts"/> and runs them as one padded batch: logits [batch, longest, vocab] and
    /// the layout (<see cref="PromptBatch.LastLogits"/> reads each text's last position).</summary>
    public (Tensor Logits, PromptBatch Batch) RunBatch(IEnumerable<string> texts, PaddingSide paddingSide = PaddingSide.Right, bool? prependBos = null) =>
        RunBatch(ToTokens(texts, prependBos), paddingSide);

    /// <summary>Control characters made visible, so that a name or text in a message cannot rewrite the terminal.</summary>
    internal static string Escape(string s) =>
        string.Concat(s.Select(ch => char.IsControl(ch) ? $"\\u{(int)ch:x4}" : ch.ToString()));

    /// <summary>BOS and EOS as the tokenizer configuration and config.json name them.</summary>
    sealed record SpecialTokens(bool AddBos, int? Bos, int? Eos)
    {
        public static SpecialTokens Read(string dir, HfTokenizer tok)
        {
            JsonElement? Root(string file)
            {
                try
                {
                    string path = Path.Combine(dir, file);
                    if (!File.Exists(path)) return null;
                    using var doc = JsonDocument.Parse(File.ReadAllText(path));
                    return doc.RootElement.ValueKind == JsonValueKind.Object ? doc.RootElement.Clone() : null;
                }
                catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException) { return null; }
            }
            var tc = Root(HfTokenizer.TokenizerConfigFileName);
            var cfg = Root("config.json");
            int? FromTokenizer(string key)
            {
                if (tc is not { } t || !t.TryGetProperty(key, out var v)) return null;
                string? content = v.ValueKind switch
                {
                    JsonValueKind.String => v.GetString(),
                    JsonValueKind.Object when v.TryGetProperty("content", out var c) && c.ValueKind == JsonValueKind.String => c.GetString(),
                    _ => null,
                };
                return string.IsNullOrEmpty(content) ? null : tok.TryGetSingleToken(content);
            }
            int? FromConfig(string key)
            {
                if (cfg is not { } c || !c.TryGetProperty(key, out var v)) return null;
                if (v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int id)) return id;
                if (v.ValueKind == JsonValueKind.Array && v.GetArrayLength() > 0 && v[0].TryGetInt32(out int first)) return first;
                return null;
            }
            bool addBos = tc is { } root && root.TryGetProperty("add_bos_token", out var a) && a.ValueKind == JsonValueKind.True;
            int? eos = FromTokenizer("eos_token") ?? FromConfig("eos_token_id");
            int? bos = FromTokenizer("bos_token") ?? FromConfig("bos_token_id") ?? eos;
            return new SpecialTokens(addBos, bos, eos);
        }
    }
}
