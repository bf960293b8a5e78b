namespace SharpLens.Loading;

/// <summary>
/// A row-major matrix in its stored dtype, usually a view into a memory-mapped checkpoint:
/// element (r, c) lives at <c>Data + (r * RowStride + c) * Size(DType)</c>.
/// A Linear layer's weight is [out_features = Rows, in_features = Cols].
/// </summary>
public readonly unsafe struct WeightMatrix
{
    public readonly nint Data;
    public readonly DType DType;
    public readonly int Rows;
    public readonly int Cols;
    /// <summary>Distance between rows, in elements (≥ Cols).</summary>
    public readonly long RowStride;

    public WeightMatrix(nint data, DType dtype, int rows, int cols, long rowStride = -1)
    {
        Data = data; DType = dtype; Rows = rows; Cols = cols;
        RowStride = rowStride < 0 ? cols : rowStride;
    }

    /// <summary>Rows [start, start + count).</summary>
    public WeightMatrix RowSlice(int start, int count) =>
        new(Data + (nint)(start * RowStride * DTypes.Size(DType)), DType, count, Cols, RowStride);

    /// <summary>Columns [start, start + count) of every row (a strided view).</summary>
    public WeightMatrix ColSlice(int start, int count) =>
        new(Data + (nint)(start * DTypes.Size(DType)), DType, Rows, count, RowStride);

    /// <summary>Widens element (r, c) to fp32.</summary>
    public float this[int r, int c]
    {
        get
        {
            long i = r * RowStride + c;
            return DType switch
            {
                DType.F32 => ((float*)Data)[i],
                DType.BF16 => BitConverter.Int32BitsToSingle(((ushort*)Data)[i] << 16),
                _ => (float)((Half*)Data)[i],
            };
        }
    }

    /// <summary>Widens row r into dst (length Cols).</summary>
    public void ReadRow(int r, Span<float> dst)
    {
        for (int c = 0; c < Cols; c++) dst[c] = this[r, c];
    }
}
