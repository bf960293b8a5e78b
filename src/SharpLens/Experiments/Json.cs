using System.Text.Json.Nodes;

namespace SharpLens.Experiments;

/// <summary>Small builders for the arrays of results.json.</summary>
internal static class Json
{
    public static JsonArray Row(IEnumerable<double> v) => new(v.Select(x => (JsonNode?)JsonValue.Create(x)).ToArray());
    public static JsonArray Row(IEnumerable<int> v) => new(v.Select(x => (JsonNode?)JsonValue.Create(x)).ToArray());
    public static JsonArray Row(IEnumerable<string> v) => new(v.Select(x => (JsonNode?)JsonValue.Create(x)).ToArray());
    public static JsonArray Grid(IEnumerable<IEnumerable<double>> v) => new(v.Select(r => (JsonNode?)Row(r)).ToArray());
    public static JsonArray Grid(IEnumerable<IEnumerable<int>> v) => new(v.Select(r => (JsonNode?)Row(r)).ToArray());
    public static JsonArray Cube(IEnumerable<IEnumerable<IEnumerable<double>>> v) => new(v.Select(r => (JsonNode?)Grid(r)).ToArray());
    public static JsonArray Cube(IEnumerable<IEnumerable<IEnumerable<int>>> v) => new(v.Select(r => (JsonNode?)Grid(r)).ToArray());

    /// <summary>Splits a flat row-major array into rows of <paramref name="width"/>.</summary>
    public static IEnumerable<double[]> Rows(double[] flat, int width) => flat.Chunk(width);
}
