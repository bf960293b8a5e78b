using SharpLens.Model;

namespace SharpLens.Experiments;

/// <summary>
/// The three unpatched runs a study starts from (clean, corrupted, control), each cached once, and the metric.
/// </summary>
public sealed class StudyRuns
{
    public HookedTransformer Model { get; }
    public StudyTokens Tokens { get; }
    public ActivationCache Clean { get; }
    public ActivationCache Corrupted { get; }
    /// <summary>The control run (resid_pre only), made the first time it is read.</summary>
    public ActivationCache Control => _control.Value;
    readonly Lazy<ActivationCache> _control;
    /// <summary>The clean run's final-position logits, [1, 1, V] (the only position a study reads).</summary>
    public Tensor CleanLogits { get; }
    /// <summary>The corrupted run's final-position logits, [1, 1, V].</summary>
    public Tensor CorruptedLogits { get; }
    public double CleanLogitDiff { get; }
    public double CorruptedLogitDiff { get; }

    public StudyRuns(HookedTransformer model, StudyTokens tokens, CancellationToken ct = default) : this(model, tokens, null, ct) { }

    /// <param name="keepAlso">more hooks for the clean and corrupted runs to keep (attribution patching's)</param>
    /// <param name="batch">run the clean and corrupted prompts as one batch (the weights read once for both; the values
    /// round differently from single runs, so the exact study keeps single runs)</param>
    public StudyRuns(HookedTransformer model, StudyTokens tokens, Func<string, bool>? keepAlso, CancellationToken ct = default, bool batch = false)
    {
        Model = model; Tokens = tokens;
        Tensor? cleanLogits, corruptedLogits;
        keepAlso ??= _ => false;
        if (!batch)
        {
            (cleanLogits, Clean) = Cached(tokens.Clean, n => BaseFilter(n) || keepAlso(n), LogitsMode.Last, ct);
            (corruptedLogits, Corrupted) = Cached(tokens.Corrupted, n => BaseFilter(n) || keepAlso(n), LogitsMode.Last, ct);
        }
        else
        {
            var r = Model.Forward([tokens.Clean, tokens.Corrupted],
                new RunOptions { CacheFilter = n => BaseFilter(n) || keepAlso(n), Logits = LogitsMode.Last, Cancellation = ct });
            (Clean, Corrupted) = (Item(r.Cache, 0), Item(r.Cache, 1));
            cleanLogits = new Tensor(r.Logits!.Slice(0).ToArray(), 1, 1, r.Logits.Shape[2]);
            corruptedLogits = new Tensor(r.Logits.Slice(1).ToArray(), 1, 1, r.Logits.Shape[2]);
        }
        _control = new(() => Cached(tokens.Control, n => n.EndsWith(".hook_resid_pre", StringComparison.Ordinal), LogitsMode.None, ct).Item2);
        (CleanLogits, CorruptedLogits) = (cleanLogits!, corruptedLogits!);
        CleanLogitDiff = LogitDiff(CleanLogits.Slice(0));
        CorruptedLogitDiff = LogitDiff(CorruptedLogits.Slice(0));
    }

    /// <summary>What the base runs keep: what sweeps resume from, what is patched in, and what DLA and patterns read.</summary>
    static bool BaseFilter(string n) => PatchSweep.NeedsInBaseCache(n) || n == HookNames.Embed || n == HookNames.PosEmbed || n == HookNames.LnFinalScale
        || n.EndsWith(".hook_attn_out", StringComparison.Ordinal) || n.EndsWith(".hook_mlp_out", StringComparison.Ordinal)
        || n.EndsWith(".attn.hook_z", StringComparison.Ordinal) || n.EndsWith(".ln1_post.hook_scale", StringComparison.Ordinal)
        || n.EndsWith(".attn.hook_pattern", StringComparison.Ordinal)
        // q and k before rotary: the sources of query/key patching (hook_v is already kept for the sweeps)
        || n.EndsWith(".attn.hook_q", StringComparison.Ordinal) || n.EndsWith(".attn.hook_k", StringComparison.Ordinal)
        // the final residual stream: the logit lens's last point
        || n.EndsWith(".hook_resid_post", StringComparison.Ordinal);

    /// <summary>Batch item <paramref name="item"/> of a cache, as a cache of one prompt ([1, …] tensors).</summary>
    internal static ActivationCache Item(ActivationCache batch, int item)
    {
        var c = new ActivationCache { Model = batch.Model };
        foreach (var name in batch.Names)
        {
            var t = batch[name];
            c.Set(name, new Tensor(t.Slice(item).ToArray(), [1, .. t.Shape[1..]]));
        }
        return c;
    }

    (Tensor?, ActivationCache) Cached(int[] ids, Func<string, bool> filter, LogitsMode logits, CancellationToken ct)
    {
        var r = Model.Forward([ids], new RunOptions { CacheFilter = filter, Logits = logits, Cancellation = ct });
        return (r.Logits, r.Cache);
    }

    /// <summary>The first position where the clean and corrupted tokens differ: before it the two runs are identical at
    /// every hook, so a patch between them need only write (and a sweep only recompute) the positions from here on.</summary>
    public int FirstDifference
    {
        get
        {
            int p = 0;
            while (p < Tokens.Length && Tokens.Clean[p] == Tokens.Corrupted[p]) p++;
            return p;
        }
    }

    /// <summary>Positions [<see cref="FirstDifference"/>, T).</summary>
    public int[] ChangedPositions => Enumerable.Range(FirstDifference, Tokens.Length - FirstDifference).ToArray();

    /// <summary>logits[answer] − logits[wrong] of one final-position logits row.</summary>
    public double LogitDiff(ReadOnlySpan<float> lastLogits) => (double)lastLogits[Tokens.Answer] - lastLogits[Tokens.Wrong];

    /// <summary>The tokens the metric reads, in the order <see cref="PairLogitDiff"/> expects: answer, wrong.</summary>
    public int[] MetricTokens => [Tokens.Answer, Tokens.Wrong];

    /// <summary>logits[answer] − logits[wrong] from the two logits of <see cref="MetricTokens"/>.</summary>
    public static double PairLogitDiff(ReadOnlySpan<float> pair) => (double)pair[0] - pair[1];

    /// <summary>(x − corrupted) / (clean − corrupted).</summary>
    public double Recovery(double x) => (x - CorruptedLogitDiff) / (CleanLogitDiff - CorruptedLogitDiff);

    /// <summary>A sweep over the corrupted run (patching) or the clean one (ablation); its metric gets the
    /// <see cref="MetricTokens"/> logits only (use <see cref="PairLogitDiff"/>).</summary>
    public PatchSweep SweepOn(bool clean, CancellationToken ct, Action<int>? progress = null) =>
        new(Model, clean ? Tokens.Clean : Tokens.Corrupted, clean ? Clean : Corrupted)
            { Cancellation = ct, OnProgress = progress, LogitTokens = MetricTokens, AcrossPairs = AcrossPairs };

    /// <summary>Set by a dataset study: the sweeps of this pair run in the same batches as its group's other pairs'.</summary>
    internal CrossPairSweeps.Participant? AcrossPairs { get; set; }

    /// <summary>The activation of one hook in a base cache, as patch source memory (batch item 0).</summary>
    public static ReadOnlyMemory<float> Source(ActivationCache cache, string hook) => cache[hook].Data;
}
