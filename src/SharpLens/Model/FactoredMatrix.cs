using Complex = System.Numerics.Complex;
using MathNet.Numerics.LinearAlgebra;
using MathNet.Numerics.LinearAlgebra.Factorization;

namespace SharpLens.Model;

/// <summary>
/// A low-rank matrix kept as the product of its factors, <c>AB = A·B</c> with A [m, k] and B [k, n] (TransformerLens'
/// <c>FactoredMatrix</c>): a head's OV circuit <c>W_V·W_O</c> or QK circuit <c>W_Q·W_Kᵀ</c> is [d_model, d_model] of
/// rank d_head, and everything here costs O((m + n)·k²), never forming the d_model² product unless asked
/// (<see cref="AB"/>). Arithmetic in double.
/// </summary>
public sealed class FactoredMatrix
{
    public Matrix<double> A { get; }
    public Matrix<double> B { get; }

    public FactoredMatrix(Matrix<double> a, Matrix<double> b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        if (a.ColumnCount != b.RowCount) throw new ArgumentException($"A is [{a.RowCount}, {a.ColumnCount}] and B [{b.RowCount}, {b.ColumnCount}]: inner sizes differ");
        A = a; B = b;
    }

    public FactoredMatrix(double[,] a, double[,] b) : this(Matrix<double>.Build.DenseOfArray(a), Matrix<double>.Build.DenseOfArray(b)) { }

    /// <summary>Rows of the product (m).</summary>
    public int Ldim => A.RowCount;
    /// <summary>Columns of the product (n).</summary>
    public int Rdim => B.ColumnCount;
    /// <summary>Inner size (k): the product's rank is at most this.</summary>
    public int Mdim => A.ColumnCount;

    /// <summary>The product [m, n], formed.</summary>
    public Matrix<double> AB => A * B;
    /// <summary>The reversed product [k, k] (same non-zero eigenvalues as AB).</summary>
    public Matrix<double> BA => Ldim == Rdim ? B * A : throw new InvalidOperationException($"BA needs a square product, this one is [{Ldim}, {Rdim}]");
    /// <summary>The transpose, <c>Bᵀ·Aᵀ</c>.</summary>
    public FactoredMatrix T => new(B.Transpose(), A.Transpose());

    /// <summary><c>(A·B)·M</c>, kept factored.</summary>
    public static FactoredMatrix operator *(FactoredMatrix f, Matrix<double> m) => new(f.A, f.B * m);
    /// <summary><c>M·(A·B)</c>, kept factored.</summary>
    public static FactoredMatrix operator *(Matrix<double> m, FactoredMatrix f) => new(m * f.A, f.B);
    /// <summary>The product of two factored matrices, factored through the smaller inner size.</summary>
    public static FactoredMatrix operator *(FactoredMatrix l, FactoredMatrix r) =>
        l.Mdim <= r.Mdim ? new(l.A, l.B * r.A * r.B) : new(l.A * l.B * r.A, r.B);

    /// <summary>
    /// The compact singular value decomposition <c>AB = U·diag(S)·Vᵀ</c>, U [m, k], S [k] descending, V [n, k], from thin
    /// QR factorisations of A and Bᵀ and the SVD of the small k×k core.
    /// </summary>
    public (Matrix<double> U, Vector<double> S, Matrix<double> V) Svd()
    {
        var qa = A.QR(QRMethod.Thin);
        var qb = B.Transpose().QR(QRMethod.Thin);
        // AB = Qa·Ra·(Qb·Rb)ᵀ = Qa·(Ra·Rbᵀ)·Qbᵀ
        var core = qa.R * qb.R.Transpose();
        var svd = core.Svd(computeVectors: true);
        return (qa.Q * svd.U, svd.S, qb.Q * svd.VT.Transpose());
    }

    /// <summary>Singular values of AB, descending (k of them, some possibly 0).</summary>
    public Vector<double> S => Svd().S;

    /// <summary>The eigenvalues of a square AB that can be non-zero: those of the k×k BA (TransformerLens' <c>eigenvalues</c>).</summary>
    public Complex[] Eigenvalues() => BA.Evd().EigenValues.ToArray();

    /// <summary>The Frobenius norm of AB, from the k×k Gram matrices: <c>‖AB‖² = Σ (AᵀA) ∘ (BBᵀ)</c>.</summary>
    public double Norm()
    {
        var ga = A.TransposeThisAndMultiply(A);
        var gb = B.TransposeAndMultiply(B);
        double s = ga.PointwiseMultiply(gb).Enumerate().Sum();
        return Math.Sqrt(Math.Max(s, 0));
    }

    /// <summary>The top-left <paramref name="k"/>×<paramref name="k"/> corner of AB (for printing).</summary>
    public Matrix<double> GetCorner(int k = 3)
    {
        int r = Math.Min(k, Ldim), c = Math.Min(k, Rdim);
        return A.SubMatrix(0, r, 0, Mdim) * B.SubMatrix(0, Mdim, 0, c);
    }

    /// <summary>TransformerLens' composition score of two circuits, <c>‖L·R‖ / (‖L‖·‖R‖)</c> (Frobenius norms): how much
    /// of what <paramref name="left"/> writes <paramref name="right"/> reads.</summary>
    public static double CompositionScore(FactoredMatrix left, FactoredMatrix right) =>
        (left * right).Norm() / left.Norm() / right.Norm();

    public override string ToString() => $"FactoredMatrix[{Ldim}, {Rdim}] (inner {Mdim})";
}
