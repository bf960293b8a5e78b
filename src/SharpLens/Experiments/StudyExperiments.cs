namespace SharpLens.Experiments;

/// <summary>
/// The experiments of a study by the names EXPERIMENTS.md gives them on the command line ("Names on the command line"),
/// and the choice <c>--only</c> / <c>--skip</c> make among them. <see cref="Baselines"/> always runs.
/// </summary>
public static class StudyExperiments
{
    public const string Baselines = "baselines", ResidPatch = "resid_patch", AttnMlpPatch = "attn_mlp_patch", HeadPatch = "head_patch",
        HeadPairPatch = "head_pair_patch", ControlPatch = "control_patch", Ablation = "ablation", Patterns = "patterns", Dla = "dla",
        OvCircuit = "ov_circuit", HeadInputPatch = "head_input_patch", Noising = "noising", PathPatch = "path_patch", LogitLens = "logit_lens",
        Atp = "atp";

    /// <summary>Every experiment a study can run, in the order it runs them.</summary>
    public static IReadOnlyList<string> All { get; } =
    [
        Baselines, ResidPatch, AttnMlpPatch, HeadPatch, HeadPairPatch, ControlPatch, Ablation, Patterns, Dla, OvCircuit,
        HeadInputPatch, Noising, PathPatch, LogitLens, Atp,
    ];

    /// <summary>The exact patching and ablation sweeps: what <see cref="StudyMethod.Atp"/> and
    /// <see cref="StudyMethod.AtpVerify"/> do not run (the sweeps with an AtP estimate are answered by <see cref="Atp"/>).</summary>
    public static IReadOnlyList<string> ExactSweeps { get; } =
        [ResidPatch, AttnMlpPatch, HeadPatch, HeadPairPatch, ControlPatch, Ablation, HeadInputPatch, Noising, PathPatch];

    /// <summary>
    /// The experiments to run: those of <paramref name="only"/> (comma-separated; null: all) less those of
    /// <paramref name="skip"/>, always with <see cref="Baselines"/>.
    /// </summary>
    /// <exception cref="SharpLensException">(<see cref="ExitCode.Usage"/>) for a name that is not an experiment, listing the valid names.</exception>
    public static IReadOnlySet<string> Select(string? only, string? skip)
    {
        var chosen = only == null ? All.ToHashSet() : Parse(only, nameof(only)).ToHashSet();
        chosen.ExceptWith(Parse(skip, nameof(skip)));
        chosen.Add(Baselines);
        return chosen;
    }

    static IEnumerable<string> Parse(string? list, string parameter)
    {
        if (list == null) return [];
        var names = list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (names.Length == 0) throw SharpLensException.Usage($"no experiment named; valid names: {string.Join(", ", All)}", parameter);
        foreach (var n in names)
            if (!All.Contains(n))
                throw SharpLensException.Usage($"\"{n}\" is not an experiment; valid names: {string.Join(", ", All)}", parameter);
        return names;
    }
}
