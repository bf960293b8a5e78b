namespace SharpLens.Model;

/// <summary>Which positions get logits: all, only the final one (what a logit-diff metric reads), or none.</summary>
public enum LogitsMode { All, Last, None }

/// <summary>
/// Rotated keys and values of a base run for positions [0, Length): a run that only recomputes positions
/// from <see cref="Length"/> on attends to these (its earlier positions are identical to the base run's).
/// </summary>
public sealed class KvPrefix
{
    public required int Length { get; init; }
    /// <summary>The keys as attention reads them (rotated, with rotary positions): <see cref="LayerHookNames.AttnKeys"/>.</summary>
    public required float[][] RotK { get; init; }  // [layer][≥ Length · n_kv · d_head]: positions [0, Length) are read
    public required float[][] V { get; init; }     // [layer][≥ Length · n_kv · d_head]

    /// <summary>The first <paramref name="length"/> positions of batch item <paramref name="item"/> of a cache holding every
    /// layer's <c>hook_rot_k</c> and <c>hook_v</c>. Item 0 shares the cache's arrays (its positions come first), so a
    /// sweep's prefixes of every length cost no copies.</summary>
    public static KvPrefix FromCache(ActivationCache cache, HookNames names, int length, int item = 0)
    {
        float[] Take(string name)
        {
            var t = cache[name];
            int perPos = t.Shape[2] * t.Shape[3];
            if (length > t.Shape[1]) throw new ArgumentOutOfRangeException(nameof(length), $"prefix of {length} positions, cache has {t.Shape[1]}");
            return item == 0 ? t.Data : t.Slice(item).Slice(0, length * perPos).ToArray();
        }
        return new KvPrefix
        {
            Length = length,
            RotK = names.Layers.Select(l => Take(l.AttnKeys)).ToArray(),
            V = names.Layers.Select(l => Take(l.V)).ToArray(),
        };
    }
}

/// <summary>
/// How to run the model: hooks, what to cache, which logits, and where to start. The defaults are a plain
/// full forward. Sweeps use the rest to skip work: <see cref="StartLayer"/> with <see cref="StartResidual"/>
/// resumes from a cached residual stream; <see cref="QStart"/> with <see cref="Prefix"/> recomputes only the
/// positions from QStart on.
/// </summary>
public sealed class RunOptions
{
    public HookSet Hooks { get; init; } = HookSet.Empty;
    /// <summary>Hook names to cache; null caches nothing.</summary>
    public Func<string, bool>? CacheFilter { get; init; }
    public LogitsMode Logits { get; init; } = LogitsMode.All;
    /// <summary>Only these vocabulary entries' logits, in this order: logits are [batch, positions, tokens.Length]
    /// (a metric that reads two logits then costs two dot products per row instead of the whole unembedding); null: all.</summary>
    public int[]? LogitTokens { get; init; }
    /// <summary>Where to write the logits: a tensor of exactly their shape ([batch, positions, vocab or |LogitTokens|];
    /// any other shape, or <see cref="LogitsMode.None"/>, is refused before the run), returned as
    /// <see cref="RunResult.Logits"/> — the same object each time, so the next run that reuses it overwrites what an
    /// earlier result holds. Null: a new tensor. A loop of forwards that reuses one saves, per call, the new array's page
    /// faults and the full garbage collection a large array brings (15 MB for 25 positions of a 151,936-token
    /// vocabulary: 20–35 ms, measured).</summary>
    public Tensor? LogitsInto { get; init; }
    public int StartLayer { get; init; }
    /// <summary><c>blocks.StartLayer.hook_resid_pre</c> for positions [QStart, T): [batch, T − QStart, d_model].</summary>
    public Tensor? StartResidual { get; init; }
    public int QStart { get; init; }
    /// <summary>Keys and values of positions [0, QStart); it may be longer (only its first QStart positions are read).</summary>
    public KvPrefix? Prefix { get; init; }
    /// <summary>Per batch item prefixes (overriding <see cref="Prefix"/>): item b attends to <c>Prefixes[b]</c> before QStart.
    /// Only the layers from <see cref="StartLayer"/> on are read.</summary>
    public KvPrefix[]? Prefixes { get; init; }
    public CancellationToken Cancellation { get; init; }
    /// <summary>Where prompts of different lengths are padded (<see cref="PromptBatch"/>); equal lengths: no padding.
    /// Padding needs a plain run from the embedding (no <see cref="StartResidual"/>, <see cref="QStart"/> 0).</summary>
    public PaddingSide Padding { get; init; } = PaddingSide.Right;
    /// <summary>TransformerLens' <c>stop_at_layer</c>: run blocks [StartLayer, StopAtLayer) only and return the residual
    /// stream there (<c>blocks.StopAtLayer.hook_resid_pre</c>, before its hooks) as <see cref="RunResult.Residual"/>
    /// [batch, pos, d_model], no logits. Negative counts from the end (−1: all blocks but the last); null: every block.</summary>
    public int? StopAtLayer { get; init; }
}

/// <summary>Logits [batch, positions, vocab] (positions = 1 for <see cref="LogitsMode.Last"/>) and the cache.</summary>
public sealed record RunResult(Tensor? Logits, ActivationCache Cache)
{
    /// <summary>The batch's layout: each prompt's length and rows, its attention mask (also on <see cref="ActivationCache.Batch"/>).</summary>
    public PromptBatch? Batch { get; init; }
    /// <summary>With <see cref="RunOptions.StopAtLayer"/>: the residual stream where the run stopped [batch, pos, d_model].</summary>
    public Tensor? Residual { get; init; }
}
