using System.Globalization;

namespace SharpLens.Sharding;

/// <summary>
/// Which slice of a study's work this process computes: shard <see cref="Index"/> of <see cref="Count"/>
/// (0 ≤ Index &lt; Count). Slices are fixed by the index and count alone, so any scheduler that starts the N processes
/// (a Slurm job array, a Kubernetes Indexed Job, a shell loop) computes the same partition, and
/// <see cref="ShardMerge"/> puts the partial results back together.
/// </summary>
public readonly record struct ShardSpec
{
    public int Index { get; }
    public int Count { get; }

    /// <exception cref="SharpLensException">(<see cref="ExitCode.Usage"/>) unless 0 ≤ index &lt; count.</exception>
    public ShardSpec(int index, int count)
    {
        if (count < 1) throw SharpLensException.Usage($"--shard: the shard count must be at least 1 (got {count})");
        if (index < 0 || index >= count)
            throw SharpLensException.Usage($"--shard: shard {index} does not exist among {count}: the index runs from 0 to {count - 1}");
        Index = index;
        Count = count;
    }

    /// <summary>The form <c>--shard</c> takes and shard files record: <c>I/N</c>.</summary>
    public override string ToString() => $"{Index}/{Count}";

    /// <summary>
    /// <c>--shard</c>'s value: <c>I/N</c> (0 ≤ I &lt; N), or <c>slurm</c> — the task of a Slurm job array, from
    /// <c>SLURM_ARRAY_TASK_ID</c> and <c>SLURM_ARRAY_TASK_COUNT</c> (an array <c>--array=A-B[:S]</c> numbers its
    /// shards from <c>SLURM_ARRAY_TASK_MIN</c> in steps of <c>SLURM_ARRAY_TASK_STEP</c>, so <c>--array=1-4</c> works as
    /// well as <c>0-3</c>). <paramref name="environment"/> reads a variable (default: the process environment).
    /// </summary>
    /// <exception cref="SharpLensException">(<see cref="ExitCode.Usage"/>) for any other value, saying what was expected.</exception>
    public static ShardSpec Parse(string text, Func<string, string?>? environment = null)
    {
        environment ??= Environment.GetEnvironmentVariable;
        string t = text.Trim();
        if (t.Equals("slurm", StringComparison.OrdinalIgnoreCase)) return FromSlurm(environment);
        int slash = t.IndexOf('/');
        if (slash < 0 || !TryCount(t[..slash], out int i) || !TryCount(t[(slash + 1)..], out int n))
            throw SharpLensException.Usage($"--shard \"{Printable(text)}\": expected I/N with 0 ≤ I < N (e.g. 0/4 … 3/4), or slurm (in a Slurm job array)");
        return new ShardSpec(i, n);
    }

    /// <summary>The shard of this Slurm array task (see <see cref="Parse"/>).</summary>
    public static ShardSpec FromSlurm(Func<string, string?> environment)
    {
        string? Var(string name) => environment(name) is { Length: > 0 } v ? v : null;   // set but empty: not set
        string? id = Var("SLURM_ARRAY_TASK_ID"), count = Var("SLURM_ARRAY_TASK_COUNT");
        if (id == null || count == null)
            throw SharpLensException.Usage("--shard slurm: SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT are not both set, so this is not a task of a "
                + "Slurm job array; submit it with sbatch --array=0-N (N + 1 shards), or give --shard I/N");
        int min = 0, step = 1;
        if (!TryCount(id, out int task) || !TryCount(count, out int n) || n < 1
            || Var("SLURM_ARRAY_TASK_MIN") is { } m && !TryCount(m, out min)
            || Var("SLURM_ARRAY_TASK_STEP") is { } s && (!TryCount(s, out step) || step < 1))
            throw SharpLensException.Usage($"--shard slurm: the Slurm array variables are not numbers (SLURM_ARRAY_TASK_ID={Printable(id)}, "
                + $"SLURM_ARRAY_TASK_COUNT={Printable(count)})");
        int offset = task - min;
        if (offset < 0 || offset % step != 0 || offset / step >= n)
            throw SharpLensException.Usage($"--shard slurm: array task {task} is not one of {n} evenly spaced tasks from {min} in steps of {step}; "
                + $"submit a contiguous array (sbatch --array=0-{n - 1}) so that the tasks number the shards");
        return new ShardSpec(offset / step, n);
    }

    /// <summary>The items of this shard when <paramref name="items"/> are dealt round-robin (item j to shard j mod N),
    /// in their order.</summary>
    public IReadOnlyList<T> Deal<T>(IReadOnlyList<T> items)
    {
        var mine = new List<T>();
        for (int j = Index; j < items.Count; j += Count) mine.Add(items[j]);
        return mine;
    }

    /// <summary>This shard's contiguous block [Start, End) of <paramref name="total"/> items, cut only between whole tiles
    /// of <paramref name="tile"/> items (tile t = items [t·tile, (t + 1)·tile); the last may be short): the first
    /// tiles mod N shards take one tile more, so blocks differ by at most one tile and concatenate, in shard order, to
    /// 0 … total − 1. A dataset study batches pairs within tiles (<see cref="Experiments.DatasetStudyOptions.PairsPerBatch"/>),
    /// so aligned blocks give every shard the same batches as the unsharded run.</summary>
    public (int Start, int End) Block(int total, int tile = 1)
    {
        if (tile < 1) throw new ArgumentOutOfRangeException(nameof(tile), tile, "a tile holds at least one item");
        int tiles = total / tile + (total % tile == 0 ? 0 : 1);
        int q = tiles / Count, r = tiles % Count;
        int start = Index * q + Math.Min(Index, r);
        int end = start + q + (Index < r ? 1 : 0);
        return (Math.Min(total, start * tile), Math.Min(total, end * tile));
    }

    static bool TryCount(string s, out int value) =>
        int.TryParse(s.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out value);

    static string Printable(string s) => IO.UntrustedText.Escape(s.Length > 60 ? s[..60] + "…" : s);
}
