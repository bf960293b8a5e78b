namespace SharpLens.Experiments;

/// <summary>Which semantics ablation and DLA follow: the plain model, or TransformerLens' default weight processing.</summary>
public enum Processing
{
    /// <summary>The model as Hugging Face computes it (EXPERIMENTS.md's plain keys).</summary>
    Hf,
    /// <summary>TransformerLens defaults: value biases folded into the output bias, W_U centred over the vocabulary.</summary>
    Tl,
}

/// <summary>How a study answers its patching sweeps (<c>--method</c>).</summary>
public enum StudyMethod
{
    /// <summary>Exact activation patching: one patched run per item (the <c>atp</c> experiment adds the AtP estimates beside).</summary>
    Exact,
    /// <summary>Attribution patching only: every sweep with an AtP estimate (residual stream, attention / MLP outputs, heads'
    /// z, q, k, v, pattern) answered from one batched forward and one backward; sweeps without one are skipped.</summary>
    Atp,
    /// <summary>AtP, then exact patching of the <see cref="StudyOptions.VerifyTop"/> items of each sweep that AtP ranks highest
    /// (by |estimate|).</summary>
    AtpVerify,
}

/// <summary>Token ids of a study: the two prompts, the control prompt and the tokens the metric and DLA read.</summary>
public sealed record StudyTokens
{
    public required int[] Clean { get; init; }
    public required int[] Corrupted { get; init; }
    public required int[] Control { get; init; }
    public required int Answer { get; init; }
    public required int Wrong { get; init; }
    /// <summary>Tokens of the declared set (default: answer and wrong).</summary>
    public required int[] Candidates { get; init; }

    public int Length => Clean.Length;
    public int Last => Clean.Length - 1;
}

/// <summary>What to study and how; every field but the prompts has the default EXPERIMENTS.md defines.</summary>
public sealed record StudyOptions
{
    public int? PairLayer { get; init; }
    public IReadOnlyList<(int Layer, int Head)>? Heads { get; init; }
    public Processing Processing { get; init; } = Processing.Hf;
    /// <summary>Number of heads a DLA top-token list holds.</summary>
    public int TopTokens { get; init; } = 10;
    public int DefaultTopHeads { get; init; } = 4;
    /// <summary>Path patching's sender heads (patched together); null: EXPERIMENTS.md's default rule
    /// (<see cref="PathPatching.DefaultSender"/>).</summary>
    public IReadOnlyList<(int Layer, int Head)>? Senders { get; init; }
    /// <summary>The experiments to run, by <see cref="StudyExperiments"/> name; null: all of them.</summary>
    public IReadOnlySet<string>? Experiments { get; init; }
    /// <summary>Whether <c>patterns</c> writes every head's whole pattern (<c>pattern_{clean,corrupted}</c>, the report's
    /// attention viewer) besides the final-position rows; a dataset study leaves them out (T² per head and pair).</summary>
    public bool FullPatterns { get; init; } = true;
    /// <summary>The ablations the <c>ablation</c> experiment runs (EXPERIMENTS.md, "Datasets"): zero only unless told.</summary>
    public IReadOnlySet<AblationKind> Ablations { get; init; } = new HashSet<AblationKind> { AblationKind.Zero };
    /// <summary>Mean ablation's replacement activations for this pair; null: the mean of the pair's own clean and corrupted
    /// runs (a single-pair study). A dataset study passes the dataset's mean at each position's label or offset.</summary>
    public AblationValues? MeanValues { get; init; }
    /// <summary>Resample ablation's replacement activations for this pair (another pair's, aligned); null: resample
    /// ablation is not available (a single pair has no other pair to draw from).</summary>
    public AblationValues? ResampleValues { get; init; }
    /// <summary>Exact patching, AtP, or AtP verified on its top items (<c>--method exact|atp|atp+verify K</c>).</summary>
    public StudyMethod Method { get; init; } = StudyMethod.Exact;
    /// <summary>With <see cref="StudyMethod.AtpVerify"/>: how many items of each sweep are patched exactly.</summary>
    public int VerifyTop { get; init; } = 10;
    /// <summary>AtP* fixes for the atp_* keys (QK fix, GradDrop); default plain AtP.</summary>
    public AtpOptions Atp { get; init; } = AtpOptions.Plain;
}

/// <summary>Which replacement an ablation writes into a component's output (EXPERIMENTS.md, "Datasets").</summary>
public enum AblationKind
{
    /// <summary>0 at every position (<c>zero_ablate_…</c>).</summary>
    Zero,
    /// <summary>The activation's mean over the dataset (or the pair's two runs) at the same label or offset (<c>mean_ablate_…</c>).</summary>
    Mean,
    /// <summary>Another pair's activation at the same label or offset (<c>resample_ablate_…</c>).</summary>
    Resample,
}

/// <summary>
/// The replacement activation of one hook (<c>hook_attn_out</c>, <c>hook_mlp_out</c> or <c>attn.hook_z</c>) for the clean
/// (<paramref name="cleanRun"/>) or corrupted run of a pair: per-prompt shape [pos, ...] with the pair's token count.
/// </summary>
public delegate ReadOnlyMemory<float> AblationValues(string hook, bool cleanRun);

/// <summary>Progress of a study: the phase and how many of its runs are done.</summary>
public readonly record struct StudyProgress(string Phase, int Done, int Total);
