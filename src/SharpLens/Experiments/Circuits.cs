using SharpLens.Model;

namespace SharpLens.Experiments;

/// <summary>
/// The circuit questions of EXPERIMENTS.md as single calls on a model and a prompt set, for use outside a study:
/// <code>
/// var prompts = PromptSet.Prepare(tok, model.Config, clean, corrupted, " Mango", " Orange");
/// var path = Circuits.PathPatching(model, prompts, [(1, 0)]);    // what reads head L1H0
/// var inputs = Circuits.HeadInputPatching(model, prompts);        // q / k / v / pattern
/// var noise = Circuits.Noising(model, prompts);                   // necessity
/// var lens = Circuits.LogitLens(model, prompts);                  // the answer over depth
/// </code>
/// Each call makes the base runs (clean, corrupted, control) itself; to ask several questions of one pair, make a
/// <see cref="StudyRuns"/> once and use <see cref="CircuitExperiments"/> and <see cref="Experiments.PathPatching"/> on it,
/// as <see cref="Study"/> does. Results are the same either way.
/// </summary>
public static class Circuits
{
    /// <summary>Recovery of patching each head's q, k, v (per key/value head) and attention pattern from the clean run.</summary>
    public static HeadInputPatchingResult HeadInputPatching(HookedTransformer model, PromptSet prompts, CancellationToken ct = default) =>
        new CircuitExperiments(new StudyRuns(model, prompts.Tokens, ct), ct: ct).HeadInputs();

    /// <summary>Noising: the fraction of the clean logit difference left when one component takes its corrupted value.</summary>
    public static NoisingResult Noising(HookedTransformer model, PromptSet prompts, CancellationToken ct = default) =>
        new CircuitExperiments(new StudyRuns(model, prompts.Tokens, ct), ct: ct).Noising();

    /// <summary>The logit difference read from each layer's residual stream at the final position, in both runs.</summary>
    public static LogitLensResult LogitLens(HookedTransformer model, PromptSet prompts, CancellationToken ct = default) =>
        new CircuitExperiments(new StudyRuns(model, prompts.Tokens, ct), ct: ct).LogitLens();

    /// <summary>
    /// Path patching from <paramref name="senders"/> (patched together) into every later q, k, v and MLP, exact and (when
    /// <paramref name="direct"/>) direct. No senders: EXPERIMENTS.md's default, the head with the largest final-position
    /// head-patching recovery outside the last layer (which costs one more sweep to find).
    /// </summary>
    public static PathPatchingResult PathPatching(HookedTransformer model, PromptSet prompts,
        IReadOnlyList<(int Layer, int Head)>? senders = null, bool direct = true, CancellationToken ct = default)
    {
        var runs = new StudyRuns(model, prompts.Tokens, ct);
        senders ??= [Experiments.PathPatching.DefaultSender(new PatchingExperiments(runs, ct: ct).Heads(allPositions: false))];
        return new PathPatching(runs, ct: ct).Run(senders, direct);
    }
}
