using SharpLens.Model;

namespace SharpLens.Experiments;

/// <summary>
/// Writes into one batch item's activation at a hook point: <c>Apply(target, shape, posOffset)</c>, where target
/// covers positions [posOffset, T) of a [pos, ...] activation.
/// </summary>
public delegate void Setter(Span<float> target, int[] shape, int posOffset);

/// <summary>
/// One change to a run: a hook point, the first position it touches and the setter; a sweep reuses everything before
/// that position and before the hook's layer (<see cref="Layer"/>, read from the hook name). Patching, ablation and
/// path patching are all lists of these.
/// </summary>
public sealed record Intervention(string Hook, int FirstPosition, Setter Apply)
{
    /// <summary>The block the hook belongs to: L for <c>blocks.L.…</c>, −1 for <c>hook_embed</c>, and
    /// <see cref="AfterTheBlocks"/> for anything else (<c>ln_final.…</c>).</summary>
    public int Layer { get; } = LayerOf(Hook);

    /// <summary>The <see cref="Layer"/> of a hook that runs after every block.</summary>
    public const int AfterTheBlocks = int.MaxValue;

    /// <summary>The block a hook name belongs to; see <see cref="Layer"/>.</summary>
    public static int LayerOf(string hook)
    {
        if (hook == HookNames.Embed) return -1;
        const string prefix = "blocks.";
        if (!hook.StartsWith(prefix, StringComparison.Ordinal)) return AfterTheBlocks;
        int dot = hook.IndexOf('.', prefix.Length);
        return dot > prefix.Length
            && int.TryParse(hook.AsSpan(prefix.Length, dot - prefix.Length), System.Globalization.NumberStyles.None, null, out int block)
            ? block
            : AfterTheBlocks;
    }

    /// <summary>Copy positions of a [pos, ...] activation from a source activation of the same per-prompt shape.</summary>
    public static Intervention Patch(string hook, ReadOnlyMemory<float> source, IReadOnlyList<int> positions) =>
        new(PositionFirst(hook), positions.Min(), (t, shape, off) =>
        {
            int row = RowSize(shape);
            foreach (int p in positions)
                source.Span.Slice(p * row, row).CopyTo(t.Slice((p - off) * row, row));
        });

    /// <summary>Copy whole activation (every position).</summary>
    public static Intervention PatchAll(string hook, ReadOnlyMemory<float> source) =>
        new(PositionFirst(hook), 0, (t, shape, off) => source.Span.Slice(off * RowSize(shape), t.Length).CopyTo(t));

    /// <summary>Copy the slices of <paramref name="heads"/> of a [pos, heads, d_head] activation at the given positions (those
    /// at or after the run's first recomputed position).</summary>
    public static Intervention PatchHeads(string hook, ReadOnlyMemory<float> source, IReadOnlyList<int> heads, IReadOnlyList<int> positions) =>
        new(PositionFirst(hook), positions.Min(), (t, shape, off) =>
        {
            int nh = shape[1], e = shape[2];
            foreach (int p in positions)
                if (p >= off)   // a run resumed at position off (a paired sweep's second run) holds only [off, T)
                    foreach (int h in heads)
                    source.Span.Slice((p * nh + h) * e, e).CopyTo(t.Slice(((p - off) * nh + h) * e, e));
        });

    /// <summary>Copy one head's rows of a [heads, q_pos, k_pos] attention pattern (or scores) at the given query positions
    /// from a source of the same per-prompt shape [heads, T, T]: the pattern's own setter, since its position axis is
    /// the second one (a run that starts at query position <c>off</c> holds rows [off, T) of every head).</summary>
    public static Intervention PatchHeadPattern(string hook, ReadOnlyMemory<float> source, int head, IReadOnlyList<int> queryPositions) =>
        new(hook, queryPositions.Min(), (t, shape, off) =>
        {
            int n = shape[1], T = shape[2];
            foreach (int p in queryPositions)
                source.Span.Slice((head * T + p) * T, T).CopyTo(t.Slice((head * n + p - off) * T, T));
        });

    /// <summary>Set a [pos, ...] activation to 0 at every position.</summary>
    public static Intervention ZeroAll(string hook) => new(hook, 0, (t, _, _) => t.Clear());

    /// <summary>Set one head's slice of a [pos, heads, d_head] activation to <paramref name="value"/> (d_head floats) at every position.</summary>
    public static Intervention FillHead(string hook, int head, ReadOnlyMemory<float> value) =>
        new(PositionFirst(hook), 0, (t, shape, _) =>
        {
            int nh = shape[1], e = shape[2];
            for (int p = 0; p < shape[0]; p++) value.Span.CopyTo(t.Slice((p * nh + head) * e, e));
        });

    /// <summary>These setters index a [pos, ...] layout; attention scores and patterns are [heads, q_pos, k_pos].</summary>
    static string PositionFirst(string hook) =>
        hook.EndsWith(".hook_attn_scores", StringComparison.Ordinal) || hook.EndsWith(".hook_pattern", StringComparison.Ordinal)
            ? throw new ArgumentException($"{hook} is [heads, q_pos, k_pos], not [pos, ...]: write a Setter for it", nameof(hook))
            : hook;

    static int RowSize(int[] shape)
    {
        int r = 1;
        for (int i = 1; i < shape.Length; i++) r *= shape[i];
        return r;
    }
}
