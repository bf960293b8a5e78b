namespace SharpLens.Model;

/// <summary>
/// One axis of a <see cref="Tensor.View"/>: an index (drops the axis), a <see cref="Range"/> such as <c>..</c> or
/// <c>2..5</c>, an <see cref="Index"/> such as <c>^1</c>, or a list of indices (<c>new[] { 3, 7 }</c>).
/// </summary>
public readonly struct Ix
{
    readonly int[]? _list;
    readonly Range? _range;
    readonly Index _index;

    Ix(int[]? list, Range? range, Index index) { _list = list; _range = range; _index = index; }

    public static implicit operator Ix(int i) => new(null, null, i < 0 ? Index.FromEnd(-i) : Index.FromStart(i));
    public static implicit operator Ix(Index i) => new(null, null, i);
    public static implicit operator Ix(Range r) => new(null, r, default);
    public static implicit operator Ix(int[] list) => new(list ?? throw new ArgumentNullException(nameof(list)), null, default);

    /// <summary>Every index of the axis (<c>..</c>).</summary>
    public static Ix All => new(null, Range.All, default);
    /// <summary>A list of indices.</summary>
    public static Ix Of(params int[] indices) => indices;

    /// <summary>Whether the axis stays in the view (ranges and lists) or is dropped (a single index).</summary>
    internal bool Keeps => _list != null || _range != null;

    /// <summary>The indices this selects on an axis of <paramref name="size"/> (negative list entries count from the end).</summary>
    internal int[] Resolve(int size, int axis)
    {
        int Check(int i)
        {
            int k = i < 0 ? size + i : i;
            if ((uint)k >= (uint)size) throw new IndexOutOfRangeException($"index {i} is outside axis {axis} of size {size}");
            return k;
        }
        if (_list != null) return _list.Select(Check).ToArray();
        if (_range is { } r)
        {
            var (start, length) = r.GetOffsetAndLength(size);
            return Enumerable.Range(start, length).ToArray();
        }
        int off = _index.GetOffset(size);
        if ((uint)off >= (uint)size) throw new IndexOutOfRangeException($"index {_index} is outside axis {axis} of size {size}");
        return [off];
    }
}

/// <summary>
/// A selection of a <see cref="Tensor"/>'s elements (numpy-style basic indexing, one <see cref="Ix"/> per axis) that reads
/// and writes the tensor itself: in a hook, <c>z.View(.., positions, head, ..).Set(source)</c> patches one head's slice at
/// some positions, <c>resid.View(.., ^1, ..).Add(direction)</c> steers the final position.
/// </summary>
public sealed class TensorView
{
    readonly Tensor _t;
    readonly int[] _offsets;

    /// <summary>The shape of the selection (axes given by a single index are dropped).</summary>
    public int[] Shape { get; }
    /// <summary>Number of elements selected.</summary>
    public int Count => _offsets.Length;

    internal TensorView(Tensor t, Ix[] index)
    {
        if (index.Length > t.Rank) throw new ArgumentException($"{index.Length} indices for a rank-{t.Rank} tensor {t}");
        // Missing trailing axes are taken whole, as in numpy.
        var axes = new int[t.Rank][];
        var shape = new List<int>();
        for (int a = 0; a < t.Rank; a++)
        {
            var ix = a < index.Length ? index[a] : Ix.All;
            axes[a] = ix.Resolve(t.Shape[a], a);
            if (ix.Keeps) shape.Add(axes[a].Length);
        }
        _t = t;
        Shape = shape.ToArray();
        var strides = new int[t.Rank];
        for (int a = t.Rank - 1, s = 1; a >= 0; s *= t.Shape[a], a--) strides[a] = s;
        var offsets = new List<int> { 0 };
        for (int a = 0; a < t.Rank; a++)
        {
            var next = new List<int>(offsets.Count * axes[a].Length);
            foreach (int o in offsets)
                foreach (int i in axes[a]) next.Add(o + i * strides[a]);
            offsets = next;
        }
        _offsets = offsets.ToArray();
    }

    /// <summary>Sets every selected element to <paramref name="value"/>.</summary>
    public TensorView Fill(float value)
    {
        foreach (int o in _offsets) _t.Data[o] = value;
        return this;
    }

    /// <summary>Copies <paramref name="values"/> in row-major order; a source that is shorter by a whole factor repeats
    /// (a one-prompt source into every batch item).</summary>
    public TensorView Set(ReadOnlySpan<float> values)
    {
        if (values.Length == 0 || Count % values.Length != 0)
            throw new ArgumentException($"{values.Length} values cannot fill a selection of {Count} elements [{string.Join(", ", Shape)}]");
        for (int i = 0; i < _offsets.Length; i++) _t.Data[_offsets[i]] = values[i % values.Length];
        return this;
    }

    /// <summary>Copies another selection (same number of elements, or a whole fraction of it, which repeats).</summary>
    public TensorView Set(TensorView source) => Set(source.ToArray());

    /// <summary>Copies a tensor's elements (see <see cref="Set(ReadOnlySpan{float})"/>).</summary>
    public TensorView Set(Tensor source) => Set(source.Data);

    /// <summary>Adds <paramref name="values"/> element-wise; a shorter source repeats (a vector along the last axis:
    /// steering every selected position by one direction).</summary>
    public TensorView Add(ReadOnlySpan<float> values, float scale = 1)
    {
        if (values.Length == 0 || Count % values.Length != 0)
            throw new ArgumentException($"{values.Length} values cannot be added to a selection of {Count} elements [{string.Join(", ", Shape)}]");
        for (int i = 0; i < _offsets.Length; i++) _t.Data[_offsets[i]] += scale * values[i % values.Length];
        return this;
    }

    /// <summary>Multiplies every selected element by <paramref name="factor"/>.</summary>
    public TensorView Scale(float factor)
    {
        foreach (int o in _offsets) _t.Data[o] *= factor;
        return this;
    }

    /// <summary>The selected elements in row-major order (a copy).</summary>
    public float[] ToArray() => _offsets.Select(o => _t.Data[o]).ToArray();

    /// <summary>The selection as a new tensor of <see cref="Shape"/> (a copy).</summary>
    public Tensor ToTensor() => new(ToArray(), Shape.Length == 0 ? [1] : Shape);
}

/// <summary><see cref="Tensor.View"/> as an extension, so the tensor type stays the plain container it is.</summary>
public static class TensorViews
{
    /// <summary>A view of the elements selected by one <see cref="Ix"/> per leading axis (the rest whole).</summary>
    public static TensorView View(this Tensor t, params Ix[] index) => new(t, index);
}
