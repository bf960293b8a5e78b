using System.Globalization;
using System.Text.Json.Nodes;

namespace SharpLens.Reports;

/// <summary>
/// Typed, forgiving read access to a <c>results.json</c> object: every accessor returns null when a
/// key is missing or has the wrong shape, so report sections can skip themselves instead of failing.
/// </summary>
internal sealed class ResultsView
{
    readonly JsonObject _r;

    public ResultsView(JsonObject results) => _r = results ?? throw new ArgumentNullException(nameof(results));

    /// <summary>The view a report draws: the results themselves, or for a dataset study the mean over its pairs
    /// (<see cref="DatasetResults.MeanView"/>).</summary>
    public static ResultsView For(JsonObject results) =>
        new(DatasetResults.IsDataset(results) ? DatasetResults.MeanView(results) : results);

    /// <summary>The underlying object.</summary>
    public JsonObject Root => _r;

    public bool Has(string key) => _r[key] is not null;

    public JsonNode? Node(string key) => _r[key];

    public string? Str(string key) => Str(_r[key]);

    public double? Num(string key) => Num(_r[key]);

    public double[]? Vec(string key) => Vec(_r[key]);

    public double[][]? Mat(string key) => Mat(_r[key]);

    public double[][][]? Cube(string key) => Cube(_r[key]);

    public int[]? Ints(string key) => Ints(_r[key]);

    /// <summary>A string child of an object-valued key, e.g. <c>prompts.clean</c>.</summary>
    public string? Str(string key, string child) => Str((_r[key] as JsonObject)?[child]);

    public static string? Str(JsonNode? n) =>
        n is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;

    public static double? Num(JsonNode? n)
    {
        if (n is not JsonValue v) return null;
        if (v.TryGetValue<double>(out var d)) return d;
        if (v.TryGetValue<long>(out var l)) return l;
        if (v.TryGetValue<int>(out var i)) return i;
        if (v.TryGetValue<float>(out var f)) return f;
        if (v.TryGetValue<decimal>(out var m)) return (double)m;
        if (v.TryGetValue<string>(out var s) && double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out d)) return d;
        return null;
    }

    public static double[]? Vec(JsonNode? n)
    {
        if (n is not JsonArray a) return null;
        var o = new double[a.Count];
        for (int i = 0; i < a.Count; i++)
        {
            if (a[i] is null) { o[i] = double.NaN; continue; }
            var d = Num(a[i]);
            if (d is null) return null;
            o[i] = d.Value;
        }
        return o;
    }

    public static double[][]? Mat(JsonNode? n)
    {
        if (n is not JsonArray a || a.Count == 0) return null;
        var o = new double[a.Count][];
        for (int i = 0; i < a.Count; i++)
            if ((o[i] = Vec(a[i])!) is null) return null;
        return o;
    }

    public static double[][][]? Cube(JsonNode? n)
    {
        if (n is not JsonArray a || a.Count == 0) return null;
        var o = new double[a.Count][][];
        for (int i = 0; i < a.Count; i++)
            if ((o[i] = Mat(a[i])!) is null) return null;
        return o;
    }

    public static int[]? Ints(JsonNode? n) => Vec(n)?.Select(d => (int)d).ToArray();

    public static string[]? Strs(JsonNode? n)
    {
        if (n is not JsonArray a) return null;
        var o = new string[a.Count];
        for (int i = 0; i < a.Count; i++) o[i] = Str(a[i]) ?? a[i]?.ToJsonString() ?? "";
        return o;
    }

    /// <summary>Token strings of one run (<c>clean</c>, <c>corrupted</c>, <c>control</c>), or the token ids
    /// written as <c>#id</c> when no strings were recorded; null when neither is present.</summary>
    public string[]? TokenStrings(string run)
    {
        var s = Strs((_r["token_strings"] as JsonObject)?[run]);
        if (s is not null) return s;
        var ids = Ints((_r["tokens"] as JsonObject)?[run]);
        return ids?.Select(i => "#" + i.ToString(CultureInfo.InvariantCulture)).ToArray();
    }

    /// <summary>Display labels for token ids, looked up among every id/string pair the results name
    /// (candidates, answers, ov tokens, prompt tokens); unknown ids are written as <c>#id</c>.</summary>
    public string[] LabelsFor(IReadOnlyList<int> ids)
    {
        var map = new Dictionary<int, string>();
        void Add(JsonNode? idNode, JsonNode? strNode)
        {
            var i = Ints(idNode); var s = Strs(strNode);
            if (i is null || s is null) return;
            for (int k = 0; k < Math.Min(i.Length, s.Length); k++) map.TryAdd(i[k], s[k]);
        }
        if (_r["candidates"] is JsonObject c) Add(c["tokens"], c["strings"]);
        Add(_r["ov_tokens"], _r["ov_token_strings"]);
        if (_r["answer_tokens"] is JsonObject at && _r["answers"] is JsonObject an)
            foreach (var run in new[] { "clean", "corrupted" })
                if (Num(at[run]) is double id && Str(an[run]) is string s) map.TryAdd((int)id, s);
        if (_r["tokens"] is JsonObject tk && _r["token_strings"] is JsonObject ts)
            foreach (var run in new[] { "clean", "corrupted", "control" }) Add(tk[run], ts[run]);
        return ids.Select(i => map.TryGetValue(i, out var s) ? s : "#" + i.ToString(CultureInfo.InvariantCulture)).ToArray();
    }

    /// <summary>Index of the final position (from the clean tokens or the residual patching grid).</summary>
    public int? LastPosition()
    {
        var t = TokenStrings("clean");
        if (t is { Length: > 0 }) return t.Length - 1;
        var m = Mat("resid_pre_patch_recovery");
        return m is { Length: > 0 } && m[0].Length > 0 ? m[0].Length - 1 : null;
    }

    /// <summary>The zero-ablation fraction for <paramref name="kind"/> (attn, mlp, head) and run, from
    /// the <c>_fraction</c> key when present, else derived from the raw logit diffs and the run's
    /// baseline. Returns [layer][…] with a single column for attn/mlp.</summary>
    public double[][]? AblationFraction(string kind, string run)
    {
        string key = $"zero_ablate_{kind}_{run}_fraction";
        var direct = kind == "head" ? Mat(key) : Vec(key)?.Select(v => new[] { v }).ToArray();
        if (direct is not null) return direct;
        var raw = AblationRaw(kind, run);
        var baseLine = Num($"{run}_logit_diff");
        if (raw is null || baseLine is null || baseLine.Value == 0) return null;
        return raw.Select(row => row.Select(v => v / baseLine.Value).ToArray()).ToArray();
    }

    /// <summary>Raw zero-ablation logit diffs, [layer][…] with a single column for attn/mlp.</summary>
    public double[][]? AblationRaw(string kind, string run)
    {
        string key = $"zero_ablate_{kind}_{run}_logit_diff";
        return kind == "head" ? Mat(key) : Vec(key)?.Select(v => new[] { v }).ToArray();
    }

    /// <summary>Head-pair superadditivity from the results, or derived from the pair matrix
    /// (pair minus the two singles off the diagonal, 0 on it).</summary>
    public double[][]? Superadditivity(out bool derived)
    {
        derived = false;
        var s = Mat("head_pair_superadditivity");
        if (s is not null) return s;
        var p = Mat("head_pair_z_patch_last_recovery");
        if (p is null) return null;
        derived = true;
        int n = p.Length;
        return Enumerable.Range(0, n).Select(i => Enumerable.Range(0, n)
            .Select(j => i == j ? 0.0 : p[i][j] - p[i][i] - p[j][j]).ToArray()).ToArray();
    }

    /// <summary>The DLA object for a run: <c>dla_candidates_RUN</c>, else <c>dla_RUN</c> (answer and wrong token).</summary>
    public JsonObject? Dla(string run, out string key)
    {
        key = "dla_candidates_" + run;
        if (_r[key] is JsonObject o) return o;
        key = "dla_" + run;
        return _r[key] as JsonObject;
    }

    /// <summary>Formats a number with up to <paramref name="digits"/> decimals, invariant culture.</summary>
    public static string F(double v, int digits = 3)
    {
        if (double.IsNaN(v)) return "NaN";
        string s = Math.Round(v, digits).ToString(digits == 0 ? "0" : "0." + new string('#', digits), CultureInfo.InvariantCulture);
        return s == "-0" ? "0" : s;
    }

    /// <summary>Makes whitespace in a token visible: space → '·', newline → '⏎', tab → '⇥', CR → '␍'.</summary>
    public static string Visible(string token) =>
        token.Replace(' ', '·').Replace("\r", "␍").Replace("\n", "⏎").Replace("\t", "⇥");

    /// <summary>HTML-escapes a token after making its whitespace visible.</summary>
    public static string HtmlToken(string token) => H(Visible(token));

    /// <summary>HTML-escapes text for element content and quoted attributes (&amp; &lt; &gt; " '); other
    /// characters stay as they are (the page is UTF-8).</summary>
    public static string H(string? s)
    {
        if (string.IsNullOrEmpty(s)) return "";
        var sb = new System.Text.StringBuilder(s.Length + 16);
        foreach (char c in s)
            sb.Append(c switch { '&' => "&amp;", '<' => "&lt;", '>' => "&gt;", '"' => "&quot;", '\'' => "&#39;", _ => c.ToString() });
        return sb.ToString();
    }
}
