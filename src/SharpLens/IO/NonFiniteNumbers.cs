using System.Text.Json.Nodes;

namespace SharpLens.IO;

/// <summary>
/// JSON has no NaN or infinity: a study whose numbers overflowed (an <c>Inf</c> weight, say) still writes its results,
/// with each non-finite number as <c>null</c> and one warning per top-level key saying how many and where.
/// </summary>
public static class NonFiniteNumbers
{
    /// <summary>Replaces every NaN or ±infinity in <paramref name="root"/> with null, in place; returns one warning per
    /// top-level key that had any (e.g. <c>control_resid_pre_patch_last_recovery: 4 of 4 numbers are not finite (NaN)
    /// and were written as null, first at [0]</c>).</summary>
    public static List<string> ReplaceWithNull(JsonObject root)
    {
        var warnings = new List<string>();
        foreach (var (key, value) in root.ToList())
        {
            int total = 0, bad = 0;
            string? first = null;
            var kinds = new SortedSet<string>(StringComparer.Ordinal);

            // true when n is a non-finite number, which the caller replaces by null
            bool NonFinite(JsonNode? n, string at)
            {
                switch (n)
                {
                    case JsonObject o:
                        foreach (var (k, v) in o.ToList())
                            if (NonFinite(v, $"{at}.{k}")) o[k] = null;
                        return false;
                    case JsonArray a:
                        for (int i = 0; i < a.Count; i++)
                            if (NonFinite(a[i], $"{at}[{i}]")) a[i] = null;
                        return false;
                    case JsonValue v:
                        double d;
                        if (v.TryGetValue<double>(out var dv)) d = dv;
                        else if (v.TryGetValue<float>(out var fv)) d = fv;
                        else return false; // a string, a bool, an integer type
                        total++;
                        if (double.IsFinite(d)) return false;
                        bad++;
                        first ??= at;
                        kinds.Add(double.IsNaN(d) ? "NaN" : d > 0 ? "+Inf" : "-Inf");
                        return true;
                    default:
                        return false;
                }
            }

            if (NonFinite(value, "")) root[key] = null;
            if (bad == 0) continue;
            warnings.Add($"{key}: {bad} of {total} number{(total == 1 ? "" : "s")} {(bad == 1 ? "is" : "are")} not finite ({string.Join(", ", kinds)}) " +
                         $"and {(bad == 1 ? "was" : "were")} written as null{(first is { Length: > 0 } ? $", first at {key}{first}" : "")}");
        }
        return warnings;
    }
}
