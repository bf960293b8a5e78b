using SharpLens.Kernels;

namespace SharpLens.Model;

/// <summary>The q/k/v projections' backward, for separate matrices (Qwen2, Llama, Mistral), row blocks of one fused
/// matrix (GPT-2's <c>c_attn</c>, Phi-3's <c>qkv_proj</c>: Wq/Wk/Wv are contiguous views of it) and GPT-NeoX's per-head
/// interleaved <c>query_key_value</c>, whose Wq/Wk/Wv views have heads 3·d_head rows apart: there dh1 comes from one
/// product with the fused matrix as stored, after dq, dk, dv are interleaved as its rows are.</summary>
internal sealed partial class BackwardPass
{
    /// <summary>dh1 [T, d] += dq·Wq + dk·Wk + dv·Wv; the weight gradients (heads contiguous: [H·e, d], [G·e, d]) when kept.</summary>
    /// <param name="h1">the first norm's output [T, d] (read only for the weight gradients)</param>
    /// <param name="dq">[T, H, e]</param>
    /// <param name="dk">[T, G, e]</param>
    /// <param name="dv">[T, G, e]</param>
    void QkvBackward(LayerWeights w, LayerWeightGrads? g, float[]? h1, float[] dq, float[] dk, float[] dv, float[] dh1)
    {
        int T = _t, d = _c.DModel, H = _c.NHeads, G = _c.NKvHeads, e = _c.DHead;
        if (w.QkvInterleaved.Data != 0)
        {
            var dqkv = InterleaveQkv(dq, dk, dv, T, H, e);                 // [T, H, 3, e]
            Dx(dqkv, w.QkvInterleaved, dh1);
        }
        else
        {
            Dx(dq, w.Wq, dh1);
            Dx(dk, w.Wk, dh1);
            Dx(dv, w.Wv, dh1);
        }
        if (g == null) return;
        Dw(dq, h1!, H * e, d, g.Wq, g.Bq);
        Dw(dk, h1!, G * e, d, g.Wk, g.Bk);
        Dw(dv, h1!, G * e, d, g.Wv, g.Bv);
    }

    /// <summary>Rows [T, H, e] of q, k and v gradients as GPT-NeoX's fused output is laid out: [T, H, 3, e]
    /// (head h's q, then its k, then its v).</summary>
    internal static float[] InterleaveQkv(ReadOnlySpan<float> dq, ReadOnlySpan<float> dk, ReadOnlySpan<float> dv, int T, int H, int e)
    {
        var r = new float[T * H * 3 * e];
        for (int t = 0; t < T; t++)
            for (int h = 0; h < H; h++)
            {
                int src = (t * H + h) * e, dst = (t * H + h) * 3 * e;
                dq.Slice(src, e).CopyTo(r.AsSpan(dst, e));
                dk.Slice(src, e).CopyTo(r.AsSpan(dst + e, e));
                dv.Slice(src, e).CopyTo(r.AsSpan(dst + 2 * e, e));
            }
        return r;
    }
}
