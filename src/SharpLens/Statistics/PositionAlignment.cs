namespace SharpLens.Statistics;

/// <summary>
/// How the token positions of pairs of different lengths line up for averaging. By label (when every pair has labels):
/// one slot per label that every pair has, in the order the first pair first uses them; a pair's value at a slot is
/// the mean over its positions with that label (e.g. the two tokens of a subject "The cook"). By offset from the final
/// position otherwise: slot j of m (m = the shortest pair's length) is offset j − (m − 1), i.e. position
/// <c>length − m + j</c> of each pair, so the last slot is always the final position.
/// </summary>
public sealed class PositionAlignment
{
    readonly int[][][] _positions;   // [pair][slot] → that pair's positions in the slot

    PositionAlignment(bool byLabel, string[] slots, int[][][] positions) => (ByLabel, Slots, _positions) = (byLabel, slots, positions);

    /// <summary>True when slots are labels, false when they are offsets from the final position.</summary>
    public bool ByLabel { get; }

    /// <summary>The slots' names: labels, or offsets ("-3", …, "0").</summary>
    public IReadOnlyList<string> Slots { get; }

    /// <summary>The offsets of the slots (by offset only): <c>−(m−1)</c> … 0.</summary>
    public IReadOnlyList<int> Offsets => ByLabel ? [] : Slots.Select(int.Parse).ToArray();

    public int PairCount => _positions.Length;

    /// <summary>Aligns by label when <paramref name="labels"/> is given for every pair (one label per position), else by offset.</summary>
    /// <param name="lengths">each pair's number of positions</param>
    /// <param name="labels">each pair's labels, or null (a pair without labels makes the alignment by offset)</param>
    /// <exception cref="ArgumentException">when a pair's labels do not have one entry per position.</exception>
    public static PositionAlignment Create(IReadOnlyList<int> lengths, IReadOnlyList<IReadOnlyList<string>?>? labels = null)
    {
        if (lengths.Count == 0) throw new ArgumentException("no pairs to align", nameof(lengths));
        if (lengths.Any(l => l < 1)) throw new ArgumentException("every pair needs at least one position", nameof(lengths));
        if (labels != null && labels.Count != lengths.Count) throw new ArgumentException("one label list per pair", nameof(labels));
        if (labels != null && labels.All(l => l != null))
        {
            for (int i = 0; i < lengths.Count; i++)
                if (labels[i]!.Count != lengths[i])
                    throw new ArgumentException($"pair {i} has {labels[i]!.Count} labels for {lengths[i]} positions", nameof(labels));
            var shared = labels[0]!.Distinct().Where(l => labels.All(p => p!.Contains(l))).ToArray();
            if (shared.Length > 0)
            {
                var byLabel = labels.Select(p => shared.Select(l => Enumerable.Range(0, p!.Count).Where(t => p[t] == l).ToArray()).ToArray()).ToArray();
                return new PositionAlignment(true, shared, byLabel);
            }
        }
        int m = lengths.Min();
        var slots = Enumerable.Range(0, m).Select(j => (j - (m - 1)).ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        var byOffset = lengths.Select(len => Enumerable.Range(0, m).Select(j => new[] { len - m + j }).ToArray()).ToArray();
        return new PositionAlignment(false, slots, byOffset);
    }

    /// <summary>The positions of pair <paramref name="pair"/> that make up each slot.</summary>
    public IReadOnlyList<int[]> PositionsOf(int pair) => _positions[pair];

    /// <summary>Pair <paramref name="pair"/>'s position-indexed values (<c>values[pos]</c>) as slot-indexed values: the
    /// mean over each slot's positions.</summary>
    public double[] Align(int pair, IReadOnlyList<double> values)
    {
        var slots = _positions[pair];
        int needed = slots.SelectMany(s => s).DefaultIfEmpty(-1).Max() + 1;
        if (values.Count < needed) throw new ArgumentException($"pair {pair} has {values.Count} positions, the alignment needs {needed}", nameof(values));
        var result = new double[slots.Length];
        for (int s = 0; s < slots.Length; s++)
        {
            double sum = 0;
            foreach (int p in slots[s]) sum += values[p];
            result[s] = sum / slots[s].Length;
        }
        return result;
    }
}
