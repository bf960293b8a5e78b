namespace SharpLens;

/// <summary>
/// A hook name the model does not have (a misspelling would otherwise hook nothing and read as "no effect"). As
/// TransformerLens does, the run is refused; the message names the closest valid names (<see cref="Closest"/>).
/// Category <see cref="ExitCode.Usage"/>.
/// </summary>
public sealed class UnknownHookException(string name, IReadOnlyList<string> closest)
    : SharpLensException(ExitCode.Usage, Describe(name, closest))
{
    /// <summary>The name as given.</summary>
    public string Name { get; } = name;
    /// <summary>Valid names nearest to <see cref="Name"/> by edit distance, nearest first.</summary>
    public IReadOnlyList<string> Closest { get; } = closest;

    static string Describe(string name, IReadOnlyList<string> closest) =>
        $"unknown hook name \"{Model.HookedTransformer.Escape(name)}\""
        + (closest.Count == 0 ? "" : $"; the closest valid names are {string.Join(", ", closest)}");
}
