namespace SharpLens.Kernels;

/// <summary>
/// A register-blocked GEMM microkernel: C[mr×nr] (+)= Ã·B̃ over kc, where Ã is a packed A tile
/// [kc][MR] (row index fastest) and B̃ a packed B panel [kc][NR] (column index fastest), both fp32 and
/// zero-padded to MR / NR. Implementations are structs so the blocked driver is specialised per kernel.
/// </summary>
internal unsafe interface IMicroKernel
{
    /// <summary>Rows of C per tile (broadcast side).</summary>
    static abstract int MR { get; }
    /// <summary>Columns of C per tile (vector side).</summary>
    static abstract int NR { get; }
    /// <summary>
    /// Computes the tile. c: row-major destination (stride ldc) of mr ≤ MR rows × nr ≤ NR columns.
    /// When accumulate is false the tile is overwritten with Ã·B̃ (+ bias[0..nr) when bias != null);
    /// otherwise Ã·B̃ is added to it. scratch: ≥ NR floats.
    /// </summary>
    static abstract void Run(int kc, float* a, float* b, float* c, long ldc, int mr, int nr, float* bias, bool accumulate, float* scratch);
}

/// <summary>A compile-time row count: the JIT specialises generic tiles on it and drops dead rows.</summary>
internal interface IRowCount { static abstract int Value { get; } }

internal struct R1 : IRowCount { public static int Value => 1; }
internal struct R2 : IRowCount { public static int Value => 2; }
internal struct R3 : IRowCount { public static int Value => 3; }
internal struct R4 : IRowCount { public static int Value => 4; }
internal struct R5 : IRowCount { public static int Value => 5; }
internal struct R6 : IRowCount { public static int Value => 6; }
internal struct R7 : IRowCount { public static int Value => 7; }
internal struct R8 : IRowCount { public static int Value => 8; }
internal struct R9 : IRowCount { public static int Value => 9; }
internal struct R10 : IRowCount { public static int Value => 10; }
internal struct R11 : IRowCount { public static int Value => 11; }
internal struct R12 : IRowCount { public static int Value => 12; }
internal struct R13 : IRowCount { public static int Value => 13; }
internal struct R14 : IRowCount { public static int Value => 14; }

/// <summary>
/// A dot-product kernel for skinny products (few rows of x): y[i, j] (+)= Σ_p x[i·ldx + p] · w[j·ldw + p]
/// over p &lt; kd for i &lt; mr ≤ MR, j &lt; nr ≤ NR, with x and w fp32 rows read in place (no packing).
/// When accumulate is false, y is overwritten (+ bias[j] when bias != null); otherwise added to.
/// </summary>
internal unsafe interface IDotKernel
{
    /// <summary>Rows of x per tile.</summary>
    static abstract int MR { get; }
    /// <summary>Rows of W per tile.</summary>
    static abstract int NR { get; }
    /// <summary>Computes one mr×nr tile of y (row stride ldy).</summary>
    static abstract void Run(int kd, float* x, long ldx, float* w, long ldw, int mr, int nr, float* y, long ldy, float* bias, bool accumulate);
}
