using System.Numerics.Tensors;
using SharpLens.Kernels;

namespace SharpLens.Model;

/// <summary>
/// The backward of the norms some families add inside the block: Qwen3's per-head RMSNorm of queries and keys before
/// rotary (<c>attn.q_norm</c>, <c>attn.k_norm</c>) and Gemma 2's RMSNorms of the attention and MLP outputs before the
/// residual add (<c>ln1_post</c>, <c>ln2_post</c>). Each records the gradients of its <c>hook_normalized</c> (x / scale,
/// before the weight) and <c>hook_scale</c>, adds its weight's gradient when kept, and returns the gradient at its input.
/// </summary>
internal sealed partial class BackwardPass
{
    /// <summary>The forward activations the block norms' backward reads: the norms' inputs (<c>hook_q</c>,
    /// <c>hook_k</c>) and scales for q/k norms, the normalized rows and scales for post-norms (input = normalized · scale).</summary>
    static IEnumerable<string> BlockNormSaved(LayerHookNames n, Loading.BlockDesign design) =>
    [
        .. design.QkNorm ? (string[])[n.Q, n.K, n.QNormScale, n.KNormScale] : [],
        .. design.PostNorms ? (string[])[n.Ln1PostScale, n.Ln1PostNormalized, n.Ln2PostScale, n.Ln2PostNormalized] : [],
    ];

    /// <summary>From the gradient <paramref name="dy"/> [T, d] at a post-norm's output (<c>hook_attn_out</c> /
    /// <c>hook_mlp_out</c>) to the gradient at its input, the sublayer's own output; <paramref name="dy"/> itself when the
    /// design has no post-norm (<paramref name="w"/> empty).</summary>
    float[] PostNormBackward(string scaleHook, string normalizedHook, float[] w, float[] dy, float[]? dw)
    {
        if (w.Length == 0) return dy;
        int d = w.Length, T = _t;
        var normalized = Act(normalizedHook); var scale = Act(scaleHook);
        var x = Temp(normalized.Length, zeroed: false);                    // the input [T, d] = normalized · scale
        for (int r = 0; r < T; r++) TensorPrimitives.Multiply(normalized.AsSpan(r * d, d), scale[r], x.AsSpan(r * d, d));
        var dx = Temp(T * d);
        RowNormBackward(x, normalized, scale, w, dy, dx, dw, T, scaleHook, normalizedHook, [T, d], [T, 1]);
        return dx;
    }

    /// <summary>
    /// Qwen3's q/k norms: <paramref name="dq"/> [T, H, e] and <paramref name="dk"/> [T, G, e] hold the gradients at the
    /// norms' outputs (rotary undone) on entry and at <c>hook_q</c> / <c>hook_k</c> (the projections) on return.
    /// </summary>
    void QkNormBackward(LayerHookNames n, LayerWeights w, LayerWeightGrads? g, float[] dq, float[] dk)
    {
        int T = _t, H = _c.NHeads, G = _c.NKvHeads;
        QkNorm(Act(n.Q), Act(n.QNormScale), w.QNorm, dq, g?.QNorm, H, n.QNormScale, n.QNormNormalized);
        QkNorm(Act(n.K), Act(n.KNormScale), w.KNorm, dk, g?.KNorm, G, n.KNormScale, n.KNormNormalized);

        void QkNorm(float[] x, float[] scale, float[] weight, float[] dOut, float[]? dw, int heads, string scaleHook, string normalizedHook)
        {
            int e = weight.Length;
            var normalized = Temp(x.Length, zeroed: false);                // x / scale per head row [T, heads, e]
            for (int r = 0; r < T * heads; r++) TensorPrimitives.Multiply(x.AsSpan(r * e, e), 1f / scale[r], normalized.AsSpan(r * e, e));
            var dIn = Temp(x.Length);
            RowNormBackward(x, normalized, scale, weight, dOut, dIn, dw, T * heads, scaleHook, normalizedHook, [T, heads, e], [T, heads, 1]);
            dIn.CopyTo(dOut, 0);
        }
    }

    /// <summary>
    /// RMSNorm backward of <paramref name="rows"/> rows (y = x / s ⊙ w): records d/d<c>hook_normalized</c> = dy ⊙ w and
    /// d/d<c>hook_scale</c> = −Σ (dy ⊙ w) ⊙ normalized / s (the scale a hook could replace, with x held fixed), then
    /// dx += ∂/∂x through both (<see cref="NormBackward.Rms"/>) and dw += dy ⊙ normalized.
    /// </summary>
    void RowNormBackward(float[] x, float[] normalized, float[] scale, float[] w, float[] dy, float[] dx, float[]? dw, int rows,
        string scaleHook, string normalizedHook, int[] normalizedShape, int[] scaleShape)
    {
        int d = w.Length;
        bool wantNormalized = _want(normalizedHook), wantScale = _want(scaleHook);
        var dNormalized = wantNormalized ? Grad(normalizedHook, normalizedShape) : wantScale ? Temp(rows * d, zeroed: false) : null;
        var dScale = wantScale ? new float[rows] : null;
        var tmp = Scratch(2 * d);
        for (int r = 0; r < rows; r++)
        {
            var dyr = dy.AsSpan(r * d, d);
            if (dNormalized != null)
            {
                var dn = dNormalized.AsSpan(r * d, d);
                TensorPrimitives.Multiply(dyr, w, dn);
                if (dScale != null) dScale[r] = -TensorPrimitives.Dot(dn, normalized.AsSpan(r * d, d)) / scale[r];
            }
            NormBackward.Rms(x.AsSpan(r * d, d), scale[r], w, dyr, dx.AsSpan(r * d, d), dw, tmp);
        }
        if (dScale != null) Grad(scaleHook, dScale, scaleShape);
    }
}
