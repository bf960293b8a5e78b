using System.Text.Json;
using System.Text.Json.Nodes;
using SharpLens.IO;

namespace SharpLens.Reports;

/// <summary>
/// Reads a saved <c>results.json</c> for <c>sharplens report</c>, strictly: a regular file holding one JSON object in
/// which no key appears twice, every string is valid Unicode and every number is finite (<c>null</c> stands for a
/// value that was not). Anything else is an input error naming the key, found before any rendering.
/// </summary>
public static class ResultsFile
{
    /// <exception cref="SharpLensException">(<see cref="ExitCode.Input"/>) naming the file and, for bad content, the key
    /// (as a path such as <c>resid_pre_patch_recovery[0][3]</c>).</exception>
    public static JsonObject Load(string path, CancellationToken ct = default)
    {
        if (RegularFile.Require(path, path, ExitCode.Input) < 0) throw SharpLensException.Input($"{path}: no such file");
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw SharpLensException.Input($"{path}: cannot read ({e.Message})"); }
        ct.ThrowIfCancellationRequested();
        JsonDocument doc;
        try { doc = JsonDocument.Parse(bytes); }
        catch (JsonException e) { throw SharpLensException.Input($"{path}: not valid JSON ({e.Message})"); }
        if (doc.RootElement.ValueKind != JsonValueKind.Object) throw SharpLensException.Input($"{path}: not a JSON object");
        int seen = 0;
        Check(doc.RootElement, "", path, ref seen, ct);
        // the document stays alive with the object, which reads from it lazily
        return JsonObject.Create(doc.RootElement)!;
    }

    static void Check(JsonElement e, string at, string file, ref int seen, CancellationToken ct)
    {
        if ((++seen & 0xFFF) == 0) ct.ThrowIfCancellationRequested();
        switch (e.ValueKind)
        {
            case JsonValueKind.Object:
                var names = new HashSet<string>(StringComparer.Ordinal);
                foreach (var p in e.EnumerateObject())
                {
                    string name;
                    try { name = p.Name; }
                    catch (InvalidOperationException) { throw Bad(file, at, "has a key that is not valid Unicode (a lone surrogate such as \\ud800)"); }
                    string child = at.Length == 0 ? name : $"{at}.{name}";
                    if (!names.Add(name)) throw Bad(file, child, "appears twice; a results.json has each key once");
                    Check(p.Value, child, file, ref seen, ct);
                }
                break;
            case JsonValueKind.Array:
                int i = 0;
                foreach (var item in e.EnumerateArray()) Check(item, $"{at}[{i++}]", file, ref seen, ct);
                break;
            case JsonValueKind.String:
                try { e.GetString(); }
                catch (InvalidOperationException) { throw Bad(file, at, "holds a string that is not valid Unicode (a lone surrogate such as \\ud800)"); }
                break;
            case JsonValueKind.Number:
                if (!e.TryGetDouble(out double d) || !double.IsFinite(d))
                    throw Bad(file, at, $"holds {Cut(e.GetRawText())}, which is not a finite number (write a value that was not finite as null)");
                break;
        }
    }

    static SharpLensException Bad(string file, string key, string what) =>
        SharpLensException.Input($"{file}: key {(key.Length == 0 ? "(top level)" : Cut(key))} {what}");

    static string Cut(string s) => s.Length <= 80 ? s : s[..77] + "…";
}
