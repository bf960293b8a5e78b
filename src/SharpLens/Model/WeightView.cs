using SharpLens.Loading;

namespace SharpLens.Model;

/// <summary>
/// A read-only view of checkpoint weights in TransformerLens' layout (e.g. <c>W_Q[layer, head, d_model, d_head]</c>) over
/// the stored matrices, without copying: each index maps to an element of a stored [out, in] matrix, widened to fp32 when
/// read. <see cref="At"/> fixes the first axis (a smaller view); <see cref="ToTensor"/> copies the whole view.
/// </summary>
public sealed class WeightView
{
    /// <summary>How one axis moves through the stored matrix: index / Div steps RowStep rows and ColStep columns
    /// (Div > 1: a key/value head shared by several query heads).</summary>
    internal readonly record struct Axis(int Size, int RowStep, int ColStep, int Div = 1);

    readonly WeightMatrix[] _matrices;  // one per index of the first axis when Stacked, else one
    readonly bool _stacked;
    readonly Axis[] _axes;              // the axes after the stacking one
    readonly int _row0, _col0;

    /// <summary>The view's shape.</summary>
    public int[] Shape { get; }
    public int Rank => Shape.Length;

    internal WeightView(WeightMatrix[] matrices, bool stacked, Axis[] axes, int row0 = 0, int col0 = 0)
    {
        _matrices = matrices; _stacked = stacked; _axes = axes; _row0 = row0; _col0 = col0;
        Shape = stacked ? [matrices.Length, .. axes.Select(a => a.Size)] : axes.Select(a => a.Size).ToArray();
    }

    /// <summary>A view of one matrix in its stored layout (rows, columns).</summary>
    internal static WeightView Of(WeightMatrix m) => new([m], false, [new(m.Rows, 1, 0), new(m.Cols, 0, 1)]);

    /// <summary>The element at <paramref name="index"/>, widened to fp32.</summary>
    public float this[params int[] index]
    {
        get
        {
            if (index.Length != Rank) throw new ArgumentException($"rank {Rank} view indexed with {index.Length} indices");
            for (int i = 0; i < Rank; i++)
                if ((uint)index[i] >= (uint)Shape[i]) throw new IndexOutOfRangeException($"index {index[i]} is outside axis {i} of size {Shape[i]}");
            int first = _stacked ? 1 : 0;
            var m = _matrices[_stacked ? index[0] : 0];
            int r = _row0, c = _col0;
            for (int i = 0; i < _axes.Length; i++)
            {
                int k = index[first + i] / _axes[i].Div;
                r += k * _axes[i].RowStep;
                c += k * _axes[i].ColStep;
            }
            return m[r, c];
        }
    }

    /// <summary>The view with its first axis fixed at <paramref name="i"/> (e.g. <c>W_Q.At(layer).At(head)</c>: [d_model, d_head]).</summary>
    public WeightView At(int i)
    {
        if ((uint)i >= (uint)Shape[0]) throw new IndexOutOfRangeException($"index {i} is outside axis 0 of size {Shape[0]}");
        if (_stacked) return new WeightView([_matrices[i]], false, _axes, _row0, _col0);
        var a = _axes[0];
        int k = i / a.Div;
        return new WeightView(_matrices, false, _axes[1..], _row0 + k * a.RowStep, _col0 + k * a.ColStep);
    }

    /// <summary>A copy of the whole view as an fp32 tensor of <see cref="Shape"/>.</summary>
    public Tensor ToTensor()
    {
        var t = Tensor.Zeros(Shape);
        var index = new int[Rank];
        for (int flat = 0; flat < t.Length; flat++)
        {
            t.Data[flat] = this[index];
            for (int a = Rank - 1; a >= 0 && ++index[a] == Shape[a]; a--) index[a] = 0;
        }
        return t;
    }

    /// <summary>A copy of a rank-2 view as a double matrix (for <see cref="FactoredMatrix"/>).</summary>
    public double[,] ToMatrix()
    {
        if (Rank != 2) throw new InvalidOperationException($"a rank-{Rank} view is not a matrix; fix leading axes with At first");
        var r = new double[Shape[0], Shape[1]];
        for (int i = 0; i < Shape[0]; i++)
            for (int j = 0; j < Shape[1]; j++) r[i, j] = this[i, j];
        return r;
    }

    public override string ToString() => $"WeightView[{string.Join(", ", Shape)}]";
}
