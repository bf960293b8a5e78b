using System.IO.Compression;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace SharpLens.Loading;

/// <summary>
/// The real tokenizers a random checkpoint ships (embedded, gzipped, from the repository's <c>fixtures/*-tokenizer</c>),
/// one per preset, each with every id below the preset's <c>vocab_size</c> (<see cref="Tokenization.HfTokenizer.EnsureFits"/>)
/// and the BOS rule of the real model. Where the family's own tokenizer is not in the repository, the choice is the
/// nearest one that is: Pythia ships GPT-2's byte-level BPE (GPT-NeoX-20B's is not vendored; 50,257 ids &lt; 50,304, no
/// BOS either way), Phi-3-mini ships Mistral-7B's SentencePiece BPE (the layout of Llama 2's, which Phi-3 uses) with
/// Phi-3-mini-4k-instruct's <c>add_bos_token: false</c>, and Gemma 2 ships Gemma 3's tokenizer without its ids from
/// 256,000 on (6,145 image and unused tokens, none reachable by a merge), since Gemma 2's own is not vendored.
/// </summary>
public static class RandomTokenizers
{
    /// <summary>Qwen1.5's (and Qwen2's) byte-level BPE, 151,646 ids; no BOS.</summary>
    public const string Qwen15 = "qwen1.5";
    /// <summary>Qwen3's byte-level BPE (Qwen2.5's with the think tokens), 151,669 ids; no BOS.</summary>
    public const string Qwen3 = "qwen3";
    /// <summary>GPT-2's byte-level BPE, 50,257 ids; no BOS.</summary>
    public const string Gpt2 = "gpt2";
    /// <summary>Mistral-7B-v0.1's SentencePiece BPE, 32,000 ids; BOS <c>&lt;s&gt;</c> added.</summary>
    public const string Mistral = "mistral";
    /// <summary>Mistral-7B-v0.1's tokenizer with <c>add_bos_token: false</c>, as Phi-3-mini-4k-instruct's tokenizer_config.json.</summary>
    public const string MistralNoBos = "mistral-no-bos";
    /// <summary>Gemma 3's SentencePiece BPE limited to Gemma 2's 256,000 ids; BOS <c>&lt;bos&gt;</c> added.</summary>
    public const string Gemma256k = "gemma3-256k";

    /// <summary>Every tokenizer name a <see cref="RandomModelSpec.Tokenizer"/> may hold.</summary>
    public static IReadOnlyList<string> Names { get; } = [Qwen15, Qwen3, Gpt2, Mistral, MistralNoBos, Gemma256k];

    const int Gemma2Vocab = 256000;

    /// <summary>Writes <c>tokenizer.json</c> and <c>tokenizer_config.json</c> of tokenizer <paramref name="name"/> into <paramref name="dir"/>.</summary>
    public static void Write(string name, string dir)
    {
        string json = Path.Combine(dir, "tokenizer.json"), config = Path.Combine(dir, "tokenizer_config.json");
        switch (name)
        {
            case Qwen15 or Qwen3 or Gpt2 or Mistral:
                CopyGunzipped($"{name}-tokenizer.json.gz", json);
                CopyResource($"{name}-tokenizer_config.json", config);
                break;
            case MistralNoBos:
                CopyGunzipped("mistral-tokenizer.json.gz", json);
                var c = JsonNode.Parse(ReadResource("mistral-tokenizer_config.json"))!.AsObject();
                c["add_bos_token"] = false;
                WriteJson(config, c);
                break;
            case Gemma256k:
                WriteGemma256k(json);
                WriteJson(config, new JsonObject
                {
                    ["add_bos_token"] = true, ["add_eos_token"] = false, ["bos_token"] = "<bos>", ["eos_token"] = "<eos>",
                    ["pad_token"] = "<pad>", ["unk_token"] = "<unk>", ["padding_side"] = "left", ["spaces_between_special_tokens"] = false,
                    ["tokenizer_class"] = "GemmaTokenizer",
                });
                break;
            default:
                throw new ArgumentException($"unknown tokenizer \"{name}\"; known: {string.Join(", ", Names)}", nameof(name));
        }
    }

    /// <summary>Gemma 3's tokenizer.json less the vocabulary entries and added tokens with ids ≥ 256,000 (merges need no
    /// change: none produces or uses them). Only the vocabulary and added tokens are materialised; the merges are copied.</summary>
    static void WriteGemma256k(string path)
    {
        JsonObject root;
        using (var gz = new GZipStream(Open("gemma3-tokenizer.json.gz"), CompressionMode.Decompress))
            root = JsonNode.Parse(gz)!.AsObject();
        var vocab = root["model"]!["vocab"]!.AsObject();
        foreach (var key in vocab.Where(kv => kv.Value!.GetValue<int>() >= Gemma2Vocab).Select(kv => kv.Key).ToList())
            vocab.Remove(key);
        var added = root["added_tokens"]!.AsArray();
        for (int i = added.Count - 1; i >= 0; i--)
            if (added[i]!["id"]!.GetValue<int>() >= Gemma2Vocab) added.RemoveAt(i);
        WriteJson(path, root, indented: false);
    }

    static void WriteJson(string path, JsonNode node, bool indented = true)
    {
        using var f = File.Create(path);
        using var w = new Utf8JsonWriter(f, new JsonWriterOptions { Indented = indented });
        node.WriteTo(w);
    }

    static void CopyGunzipped(string resource, string path)
    {
        using var gz = new GZipStream(Open(resource), CompressionMode.Decompress);
        using var o = File.Create(path);
        gz.CopyTo(o);
    }

    static void CopyResource(string resource, string path)
    {
        using var s = Open(resource);
        using var o = File.Create(path);
        s.CopyTo(o);
    }

    static string ReadResource(string resource)
    {
        using var r = new StreamReader(Open(resource));
        return r.ReadToEnd();
    }

    static Stream Open(string resource)
    {
        var asm = typeof(RandomTokenizers).Assembly;
        string name = "SharpLens.Resources." + resource;
        return asm.GetManifestResourceStream(name)
            ?? throw new InvalidOperationException($"embedded resource {name} is missing from {asm.GetName().Name}");
    }
}
