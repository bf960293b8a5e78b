using System.Text.Json.Nodes;
using CsCheck;

namespace SharpLens.Tests.Support;

/// <summary>
/// Random damage to a JSON text for the parsers' fuzz tests: truncate, delete, insert (as text), or replace / remove
/// one node (as a tree), with replacement values and insertions chosen per format.
/// </summary>
public sealed class JsonMutator(string[] replacementValues, string[] insertions)
{
    /// <summary>Edits as (kind 0–4, where, what).</summary>
    public static readonly Gen<(int Kind, int Where, int What)> Edit = Gen.Select(Gen.Int[0, 4], Gen.Int[0, 100_000], Gen.Int[0, 1000]);

    /// <summary>One edit of a JSON text.</summary>
    public string Mutate(string json, int kind, int where, int what)
    {
        if (json.Length == 0) return json;
        switch (kind)
        {
            case 0: return json[..(where % (json.Length + 1))];
            case 1:
                int start = where % json.Length;
                return json.Remove(start, Math.Min(1 + what % 8, json.Length - start));
            case 2: return json.Insert(where % (json.Length + 1), insertions[what % insertions.Length]);
            default:
                // JsonNode materialises objects lazily: duplicate keys or bad text surface on first use, so all of it is guarded
                try { return MutateTree(json, kind, where, what); }
                catch (Exception e) when (e is System.Text.Json.JsonException or ArgumentException or InvalidOperationException) { return json; }
        }
    }

    /// <summary>Replaces (kind 3) or removes (kind 4) one node of the JSON tree.</summary>
    string MutateTree(string json, int kind, int where, int what)
    {
        JsonNode? root = JsonNode.Parse(json);
        if (root is null) return json;
        var nodes = new List<JsonNode>();
        Collect(root, nodes);
        var target = nodes[where % nodes.Count];
        if (target.Parent is not { } parent) return json;
        JsonNode? replacement = kind == 3 ? JsonNode.Parse(replacementValues[what % replacementValues.Length]) : null;
        if (parent is JsonObject obj)
        {
            string key = target.GetPropertyName();
            if (kind == 4) obj.Remove(key); else obj[key] = replacement;
        }
        else if (parent is JsonArray array)
        {
            int index = target.GetElementIndex();
            if (kind == 4) array.RemoveAt(index); else array[index] = replacement;
        }
        return root.ToJsonString();
    }

    static void Collect(JsonNode node, List<JsonNode> nodes)
    {
        nodes.Add(node);
        if (node is JsonObject obj) foreach (var (_, child) in obj) { if (child is not null) Collect(child, nodes); }
        else if (node is JsonArray array) foreach (var child in array) { if (child is not null) Collect(child, nodes); }
    }
}
