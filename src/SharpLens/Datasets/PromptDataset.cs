using System.Text;
using System.Text.Json;
using SharpLens.Experiments;
using SharpLens.IO;
using SharpLens.Loading;
using SharpLens.Tokenization;

namespace SharpLens.Datasets;

/// <summary>A line of a dataset file that cannot be used, and why.</summary>
/// <param name="Line">1-based line number</param>
/// <param name="Reason">what is wrong, in words (text from the file quoted as JSON strings)</param>
public sealed record DatasetProblem(int Line, string Reason);

/// <summary>A pair of a dataset with its prompts tokenized and checked (<see cref="PromptDataset.Prepare"/>).</summary>
public sealed record PreparedPair(PromptPair Pair, PromptSet Prompts);

/// <summary>
/// A dataset of clean/corrupted prompt pairs, read from JSONL: one JSON object per line with the keys of
/// <see cref="PromptPair"/> (<c>clean</c>, <c>corrupted</c>, <c>answer</c>, <c>wrong</c> required, non-empty strings;
/// <c>candidates</c> and <c>labels</c> optional lists of non-empty strings; <c>meta</c> an optional object). The file is
/// strict UTF-8 (a leading byte-order mark is allowed; lines may end in <c>\n</c> or <c>\r\n</c>), a regular file of at most
/// <see cref="MaxFileBytes"/>. Every bad line is reported with its number — empty lines, invalid UTF-8 or JSON,
/// missing, mistyped, duplicated or unknown keys — and nothing is skipped: a file with any bad line is refused.
/// </summary>
public sealed class PromptDataset
{
    /// <summary>The largest dataset file read: 256 MiB (about a million pairs of set-completion prompts with labels).</summary>
    public const long MaxFileBytes = 256L << 20;

    static readonly string[] Required = ["clean", "corrupted", "answer", "wrong"];
    static readonly string[] Known = [.. Required, "candidates", "labels", "meta"];

    PromptDataset(IReadOnlyList<PromptPair> pairs, string source) => (Pairs, Source) = (pairs, source);

    /// <summary>The pairs, in file order (each with its <see cref="PromptPair.Line"/>).</summary>
    public IReadOnlyList<PromptPair> Pairs { get; }

    /// <summary>Where the pairs came from (the path, as given), for messages.</summary>
    public string Source { get; }

    /// <summary>True when every pair has labels: position-indexed results can then be aggregated by label.</summary>
    public bool AllLabeled => Pairs.All(p => p.Labels != null);

    /// <summary>A dataset made in memory (a generator's output); the pairs are numbered as lines 1…n.</summary>
    public static PromptDataset FromPairs(IEnumerable<PromptPair> pairs, string source = "(generated)") =>
        new(pairs.Select((p, i) => p with { Line = i + 1 }).ToArray(), source);

    /// <summary>Reads and checks a dataset file.</summary>
    /// <exception cref="SharpLensException">(<see cref="ExitCode.Input"/>) when the file is missing, not a regular file,
    /// larger than <see cref="MaxFileBytes"/>, empty, or has bad lines — the message lists every bad line by number.</exception>
    public static PromptDataset Load(string path)
    {
        string what = $"dataset {path}";
        return Parse(RegularFile.ReadBounded(path, MaxFileBytes, what), what);
    }

    /// <summary>Parses the bytes of a dataset file; <paramref name="source"/> names it in messages.</summary>
    /// <exception cref="SharpLensException">(<see cref="ExitCode.Input"/>) as <see cref="Load"/>.</exception>
    public static PromptDataset Parse(ReadOnlySpan<byte> utf8, string source = "dataset")
    {
        var (pairs, problems) = Read(utf8);
        if (problems.Count > 0) throw SharpLensException.Input(Describe(source, problems));
        if (pairs.Count == 0) throw SharpLensException.Input($"{source}: no pairs (the file is empty); a dataset has one JSON object per line");
        return new PromptDataset(pairs, source);
    }

    /// <summary>Every bad line of a dataset file's bytes (empty when all lines are good).</summary>
    public static IReadOnlyList<DatasetProblem> FindProblems(ReadOnlySpan<byte> utf8) => Read(utf8).Problems;

    /// <summary>The dataset as JSONL: one <see cref="PromptPair.ToJsonLine"/> per pair, each ending in <c>\n</c>.</summary>
    public string ToJsonl() => ToJsonl(Pairs);

    /// <summary>Pairs as JSONL (see <see cref="ToJsonl()"/>).</summary>
    public static string ToJsonl(IEnumerable<PromptPair> pairs)
    {
        var sb = new StringBuilder();
        foreach (var p in pairs) sb.Append(p.ToJsonLine()).Append('\n');
        return sb.ToString();
    }

    /// <summary>
    /// Tokenizes and checks every pair as a single-pair study does (<see cref="PromptSet.Prepare"/>: equal token lengths,
    /// at least one differing token, single-token answer, wrong and candidates; with <paramref name="config"/>, the model's
    /// context and vocabulary too) and, where a pair has labels, that there is one label per token. Labels name the text's
    /// tokens (as the generators write them); the tokens the tokenizer adds around the text get <c>BOS</c> / <c>EOS</c>.
    /// </summary>
    /// <exception cref="SharpLensException">(<see cref="ExitCode.Input"/>) listing every pair that fails, by line.</exception>
    public IReadOnlyList<PreparedPair> Prepare(HfTokenizer tokenizer, ModelConfig? config = null)
    {
        var prepared = new List<PreparedPair>(Pairs.Count);
        var problems = new List<DatasetProblem>();
        foreach (var pair in Pairs)
        {
            try
            {
                var set = PromptSet.Prepare(tokenizer, config, pair.Clean, pair.Corrupted, pair.Answer, pair.Wrong, null, pair.Candidates);
                int prefix = tokenizer.SpecialPrefix.Count, suffix = tokenizer.SpecialSuffix.Count, textTokens = set.Tokens.Length - prefix - suffix;
                if (pair.Labels != null && pair.Labels.Count != textTokens)
                    throw SharpLensException.Input($"{pair.Labels.Count} labels for {textTokens} tokens; give one label per token position");
                var labelled = pair.Labels == null || prefix + suffix == 0 ? pair
                    : pair with { Labels = [.. Enumerable.Repeat("BOS", prefix), .. pair.Labels, .. Enumerable.Repeat("EOS", suffix)] };
                prepared.Add(new PreparedPair(labelled, set));
            }
            catch (SharpLensException e) when (e.Code == ExitCode.Input)
            {
                // PromptSet names its parameter (answer, wrong, candidates): in a dataset, the key of the line.
                problems.Add(new DatasetProblem(pair.Line, e.Parameter is { } key ? $"\"{key}\": {e.Message}" : e.Message));
            }
        }
        if (problems.Count > 0) throw SharpLensException.Input(Describe(Source, problems, "pair that does not fit the tokenizer", "pairs that do not fit the tokenizer"));
        return prepared;
    }

    static string Describe(string source, IReadOnlyList<DatasetProblem> problems, string one = "bad line", string many = "bad lines")
    {
        var sb = new StringBuilder($"{source}: {problems.Count} {(problems.Count == 1 ? one : many)} (nothing was used; fix them and run again):");
        foreach (var p in problems) sb.Append($"\n  line {p.Line}: {p.Reason.Replace("\n", "\n    ")}");
        return sb.ToString();
    }

    static (List<PromptPair> Pairs, List<DatasetProblem> Problems) Read(ReadOnlySpan<byte> bytes)
    {
        var pairs = new List<PromptPair>();
        var problems = new List<DatasetProblem>();
        if (bytes.StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF])) bytes = bytes[3..];
        int line = 0;
        while (!bytes.IsEmpty)
        {
            line++;
            int end = bytes.IndexOf((byte)'\n');
            var text = end < 0 ? bytes : bytes[..end];
            bytes = end < 0 ? [] : bytes[(end + 1)..];
            if (text.EndsWith((ReadOnlySpan<byte>)"\r"u8)) text = text[..^1];
            string? reason = ParseLine(text, out var pair);
            if (reason != null) problems.Add(new DatasetProblem(line, reason));
            else pairs.Add(pair! with { Line = line });
        }
        return (pairs, problems);
    }

    static readonly UTF8Encoding StrictUtf8 = new(false, throwOnInvalidBytes: true);

    /// <summary>Null and the pair, or the reason the line is bad.</summary>
    static string? ParseLine(ReadOnlySpan<byte> text, out PromptPair? pair)
    {
        pair = null;
        try { StrictUtf8.GetCharCount(text); }
        catch (DecoderFallbackException e) { return $"not valid UTF-8 (at byte {e.Index} of the line)"; }
        if (text.Trim(" \t"u8).IsEmpty) return "empty line (a dataset has one JSON object on every line; remove it)";
        JsonDocument doc;
        try { doc = JsonDocument.Parse(text.ToArray(), new JsonDocumentOptions { MaxDepth = 32 }); }
        catch (JsonException e) { return $"not valid JSON ({Position(e)})"; }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) return $"not a JSON object (found {Kind(root.ValueKind)})";
            var reasons = new List<string>();
            var seen = new HashSet<string>();
            var strings = new Dictionary<string, string>();
            List<string>? candidates = null, labels = null;
            System.Text.Json.Nodes.JsonObject? meta = null;
            foreach (var prop in root.EnumerateObject())
            {
                string name = prop.Name;
                if (!seen.Add(name)) { reasons.Add($"{Quote(name)} appears more than once"); continue; }
                if (!Known.Contains(name)) { reasons.Add($"unknown key {Quote(name)} (the keys are {string.Join(", ", Known)})"); continue; }
                var v = prop.Value;
                if (Required.Contains(name))
                {
                    string? s = NonEmptyString(v, name, reasons);
                    if (s != null) strings[name] = s;
                }
                else if (name == "meta")
                {
                    if (v.ValueKind != JsonValueKind.Object) reasons.Add($"\"meta\" must be an object, not {Kind(v.ValueKind)}");
                    else meta = System.Text.Json.Nodes.JsonObject.Create(v.Clone());
                }
                else
                {
                    var list = StringList(v, name, reasons);
                    if (name == "candidates") candidates = list; else labels = list;
                }
            }
            foreach (var name in Required)
                if (!seen.Contains(name)) reasons.Add($"{Quote(name)} is missing");
            if (reasons.Count == 0 && strings["clean"] == strings["corrupted"])
                reasons.Add("\"clean\" and \"corrupted\" are the same text: patching needs prompts that differ");
            if (reasons.Count == 0 && strings["answer"] == strings["wrong"])
                reasons.Add("\"answer\" and \"wrong\" are the same text: the logit difference would be 0");
            if (reasons.Count > 0) return string.Join("; ", reasons);
            pair = new PromptPair(strings["clean"], strings["corrupted"], strings["answer"], strings["wrong"], candidates, labels, meta);
            return null;
        }
    }

    static string? NonEmptyString(JsonElement v, string name, List<string> reasons)
    {
        if (v.ValueKind != JsonValueKind.String) { reasons.Add($"{Quote(name)} must be a string, not {Kind(v.ValueKind)}"); return null; }
        string s;
        try { s = v.GetString()!; }
        catch (InvalidOperationException) { reasons.Add($"{Quote(name)} is not valid Unicode (a lone surrogate escape)"); return null; }
        if (s.Length == 0) { reasons.Add($"{Quote(name)} is empty"); return null; }
        return s;
    }

    static List<string>? StringList(JsonElement v, string name, List<string> reasons)
    {
        if (v.ValueKind != JsonValueKind.Array) { reasons.Add($"{Quote(name)} must be a list of strings, not {Kind(v.ValueKind)}"); return null; }
        var list = new List<string>();
        int i = 0;
        foreach (var item in v.EnumerateArray())
        {
            string? s = NonEmptyString(item, $"{name}[{i++}]", reasons);
            if (s == null) return null;
            list.Add(s);
        }
        if (list.Count == 0) { reasons.Add($"{Quote(name)} is an empty list (leave the key out instead)"); return null; }
        return list;
    }

    static string Position(JsonException e) =>
        e.BytePositionInLine is { } b ? $"at byte {b} of the line" : "malformed";

    static string Kind(JsonValueKind k) => k switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "a list",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "true/false",
        JsonValueKind.Null => "null",
        _ => "nothing",
    };

    /// <summary>A name from the file as a JSON string literal: quotes, control and non-ASCII characters escaped.</summary>
    static string Quote(string s) => JsonSerializer.Serialize(s);
}
