using System.Text.Json;
using System.Text.Json.Nodes;

namespace SharpLens.Sharding;

/// <summary>
/// Compares two JSON values leaf by leaf: numbers within a relative tolerance (|a − b| ≤ tol · max(|a|, |b|), or both
/// below 1e-12 in magnitude), everything else exactly. Merging shards uses it to check that values two shards both
/// computed (the baselines, the metadata) agree, and tests use it to compare a merged result with an unsharded one.
/// </summary>
public static class JsonDiff
{
    /// <summary>The path of the first leaf where <paramref name="a"/> and <paramref name="b"/> differ
    /// (e.g. <c>resid_pre_patch_recovery[2][5]</c>, with both values), or null when they agree.</summary>
    public static string? FirstDifference(JsonNode? a, JsonNode? b, double relativeTolerance = 0, string path = "")
    {
        switch (a, b)
        {
            case (null, null):
                return null;
            case (JsonObject x, JsonObject y):
                foreach (var (k, v) in x)
                {
                    string at = path.Length == 0 ? k : $"{path}.{k}";
                    if (!y.ContainsKey(k)) return $"{at} (only in the first)";
                    if (FirstDifference(v, y[k], relativeTolerance, at) is { } d) return d;
                }
                foreach (var (k, _) in y)
                    if (!x.ContainsKey(k)) return $"{(path.Length == 0 ? k : $"{path}.{k}")} (only in the second)";
                return null;
            case (JsonArray x, JsonArray y):
                if (x.Count != y.Count) return $"{Name(path)} (lengths {x.Count} and {y.Count})";
                for (int i = 0; i < x.Count; i++)
                    if (FirstDifference(x[i], y[i], relativeTolerance, $"{path}[{i}]") is { } d) return d;
                return null;
            case (JsonValue x, JsonValue y):
                if (Number(x) is { } p && Number(y) is { } q)
                {
                    double scale = Math.Max(Math.Abs(p), Math.Abs(q));
                    return p == q || scale < 1e-12 || Math.Abs(p - q) <= relativeTolerance * scale ? null : $"{Name(path)} ({p:R} and {q:R})";
                }
                return JsonNode.DeepEquals(x, y) ? null : $"{Name(path)} ({Show(x)} and {Show(y)})";
            default:
                return $"{Name(path)} ({Show(a)} and {Show(b)})";
        }
    }

    /// <summary>A number however the value holds it (a parsed element, a double, an int): through its JSON text.</summary>
    static double? Number(JsonValue v) =>
        v.GetValueKind() == JsonValueKind.Number ? double.Parse(v.ToJsonString(), System.Globalization.CultureInfo.InvariantCulture) : null;

    static string Name(string path) => path.Length == 0 ? "the value" : path;

    static string Show(JsonNode? n)
    {
        string s = n?.ToJsonString() ?? "null";
        return IO.UntrustedText.Quote(s, 80);
    }
}
