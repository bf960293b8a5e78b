using System.Runtime.Intrinsics;

namespace SharpLens.Loading;

/// <summary>
/// A matrix in its stored dtype, usually a view into a memory-mapped checkpoint: element (r, c) lives at
/// <c>Data + (r * RowStride + c) * Size(DType)</c>, or, for a <see cref="Transposed"/> view, at
/// <c>Data + (c * RowStride + r) * Size(DType)</c>.
/// A Linear layer's weight is [out_features = Rows, in_features = Cols]: <c>nn.Linear</c> stores it so; GPT-2's
/// <c>Conv1D</c> stores [in, out], which <see cref="InOut"/> views as [out, in] without copying a byte.
/// </summary>
public readonly unsafe struct WeightMatrix
{
    public readonly nint Data;
    public readonly DType DType;
    public readonly int Rows;
    public readonly int Cols;
    /// <summary>Distance between stored rows, in elements (≥ Cols; ≥ Rows for a <see cref="Transposed"/> view).</summary>
    public readonly long RowStride;
    /// <summary>Stored column-major: element (r, c) at <c>c * RowStride + r</c> (a <c>Conv1D</c> [in, out] weight seen as
    /// [out, in]). The GEMM reads such a view as its K-major operand, in place.</summary>
    public readonly bool Transposed;

    public WeightMatrix(nint data, DType dtype, int rows, int cols, long rowStride = -1, bool transposed = false)
    {
        Data = data; DType = dtype; Rows = rows; Cols = cols; Transposed = transposed;
        RowStride = rowStride >= 0 ? rowStride : transposed ? rows : cols;
    }

    /// <summary>A weight stored [<paramref name="inFeatures"/>, <paramref name="outFeatures"/>] row-major (GPT-2's
    /// <c>Conv1D</c>: <c>y = x · W + b</c>) viewed as the [out, in] matrix every other layer has.</summary>
    public static WeightMatrix InOut(nint data, DType dtype, int inFeatures, int outFeatures) =>
        new(data, dtype, outFeatures, inFeatures, outFeatures, transposed: true);

    /// <summary>Rows [start, start + count).</summary>
    public WeightMatrix RowSlice(int start, int count) => Transposed
        ? new(Data + (nint)(start * DTypes.Size(DType)), DType, count, Cols, RowStride, true)
        : new(Data + (nint)(start * RowStride * DTypes.Size(DType)), DType, count, Cols, RowStride);

    /// <summary>Columns [start, start + count) of every row (a strided view).</summary>
    public WeightMatrix ColSlice(int start, int count) => Transposed
        ? new(Data + (nint)(start * RowStride * DTypes.Size(DType)), DType, Rows, count, RowStride, true)
        : new(Data + (nint)(start * DTypes.Size(DType)), DType, Rows, count, RowStride);

    /// <summary>Widens element (r, c) to fp32.</summary>
    public float this[int r, int c]
    {
        get
        {
            long i = Transposed ? c * RowStride + r : r * RowStride + c;
            return DType switch
            {
                DType.F32 => ((float*)Data)[i],
                DType.BF16 => BitConverter.Int32BitsToSingle(((ushort*)Data)[i] << 16),
                _ => (float)((Half*)Data)[i],
            };
        }
    }

    /// <summary>Widens row r into dst (length ≥ Cols), vectorised (exact: bf16 and f16 widen without rounding).</summary>
    public void ReadRow(int r, Span<float> dst)
    {
        if ((uint)r >= (uint)Rows) throw new ArgumentOutOfRangeException(nameof(r), $"row {r} of {Rows}");
        if (dst.Length < Cols) throw new ArgumentException($"dst has {dst.Length} elements, need {Cols}", nameof(dst));
        if (Transposed)
        {
            for (int c = 0; c < Cols; c++) dst[c] = this[r, c];   // a strided column of the stored matrix
            return;
        }
        long start = r * RowStride;
        switch (DType)
        {
            case DType.F32: new ReadOnlySpan<float>((float*)Data + start, Cols).CopyTo(dst); break;
            case DType.F16: System.Numerics.Tensors.TensorPrimitives.ConvertToSingle(new ReadOnlySpan<Half>((Half*)Data + start, Cols), dst); break;
            default: WidenBf16((ushort*)Data + start, dst[..Cols]); break;
        }
    }

    /// <summary>bf16 → fp32: the 16 bits become the high half of the float.</summary>
    static void WidenBf16(ushort* src, Span<float> dst)
    {
        int n = dst.Length, i = 0;
        fixed (float* d = dst)
        {
            if (Vector256.IsHardwareAccelerated)
                for (; i + 16 <= n; i += 16)
                {
                    var v = Vector256.Load(src + i);
                    var (lo, hi) = Vector256.Widen(v);
                    (lo << 16).AsSingle().Store(d + i);
                    (hi << 16).AsSingle().Store(d + i + 8);
                }
            for (; i < n; i++) d[i] = BitConverter.Int32BitsToSingle(src[i] << 16);
        }
    }

    /// <summary>Views an fp32 array that lives on the pinned object heap (<c>GC.AllocateArray(n, pinned: true)</c>);
    /// the view is valid while the array is referenced. Any other array could move and must not be passed.</summary>
    internal static WeightMatrix FromPinned(float[] pinned, int rows, int cols)
    {
        fixed (float* p = pinned) return new WeightMatrix((nint)p, DType.F32, rows, cols);
    }
}
