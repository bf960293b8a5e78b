using SharpLens.Kernels;
using SharpLens.Loading;

namespace SharpLens.Model;

/// <summary>The block's backward: the forward's steps (<c>ForwardPass.Block.cs</c>) in reverse.</summary>
internal sealed partial class BackwardPass
{
    /// <param name="dx">the gradient at blocks.l.hook_resid_post on entry, at blocks.l.hook_resid_pre on return</param>
    void Block(int l, float[] dx)
    {
        var w = _m.Weights.Layers[l]; var n = _m.HookNames.Layers[l]; var g = _wg?.Layers[l];
        int T = _t, d = _c.DModel, H = _c.NHeads, G = _c.NKvHeads, e = _c.DHead, f = _c.DMlp;
        Grad(n.ResidPost, dx, T, d);
        Grad(n.MlpOut, dx, T, d);
        var dAttnOut = AttnOutGradOfParallel(dx);                        // [T, d]; null when sequential: dx after the MLP

        // MLP: post-norm (Gemma 2), down projection, activation, gate/up (or input) projections.
        var dmlp = PostNormBackward(n.Ln2PostScale, n.Ln2PostNormalized, w.Ln2Post, dx, g?.Ln2Post);   // [T, d]: at the down projection's output
        var h2 = NormOutput(n.Ln2Normalized, w.Ln2, w.Ln2Bias);          // [T, d]
        var dpost = new float[T * f];                                      // [T, f]
        LinearBackward.InputGrad(dmlp, T, w.WDown, dpost, Scratch((long)T * f));
        if (g != null) LinearBackward.WeightGrad(dmlp, Act(n.MlpPost), T, d, f, g.WDown, g.BDown, Scratch((long)d * (T + f)));
        Grad(n.MlpPost, dpost, T, f);
        var dh2 = new float[T * d];                                        // [T, d]
        if (_design.Mlp == MlpKind.Gated)
        {
            var dgate = new float[T * f]; var dup = new float[T * f];
            ActivationBackward.Gated(_design.Activation, Act(n.MlpPre), Act(n.MlpPreLinear), dpost, dgate, dup);
            Grad(n.MlpPre, dgate, T, f);
            Grad(n.MlpPreLinear, dup, T, f);
            LinearBackward.InputGrad(dgate, T, w.WGate, dh2, Scratch((long)T * d));
            LinearBackward.InputGrad(dup, T, w.WUp, dh2, Scratch((long)T * d));
            if (g != null)
            {
                LinearBackward.WeightGrad(dgate, h2, T, f, d, g.WGate, g.BGate, Scratch((long)f * (T + d)));
                LinearBackward.WeightGrad(dup, h2, T, f, d, g.WUp, g.BUp, Scratch((long)f * (T + d)));
            }
        }
        else
        {
            var dpre = new float[T * f];
            ActivationBackward.Plain(_design.Activation, Act(n.MlpPre), dpost, dpre, new float[T * f]);
            Grad(n.MlpPre, dpre, T, f);
            LinearBackward.InputGrad(dpre, T, w.WUp, dh2, Scratch((long)T * d));
            if (g != null) LinearBackward.WeightGrad(dpre, h2, T, f, d, g.WUp, g.BUp, Scratch((long)f * (T + d)));
        }
        NormalizedGrad(n.Ln2Normalized, dh2, w.Ln2, T, d);
        NormRows(Act(Ln2Input(n)), Act(n.Ln2Scale), w.Ln2, dh2, dx, g?.Ln2, g?.Ln2Bias);
        if (dAttnOut == null) Grad(n.ResidMid, dx, T, d);
        dAttnOut ??= dx;
        Grad(n.AttnOut, dAttnOut, T, d);

        // Attention: post-norm (Gemma 2), output projection, softmax attention, rotary, q/k norms (Qwen3), QKV projections.
        var dattn = PostNormBackward(n.Ln1PostScale, n.Ln1PostNormalized, w.Ln1Post, dAttnOut, g?.Ln1Post);  // [T, d]: at o_proj's output
        var dz = new float[T * H * e];                                     // [T, H, e]
        LinearBackward.InputGrad(dattn, T, w.Wo, dz, Scratch((long)T * H * e));
        if (g != null) LinearBackward.WeightGrad(dattn, Act(n.Z), T, d, H * e, g.Wo, g.Bo, Scratch((long)d * (T + H * e)));
        Grad(n.Z, dz, T, H, e);
        bool rotary = _design.Positions == PositionKind.Rotary;
        var dP = new float[H * T * T]; var dS = new float[H * T * T];       // [H, T, T]
        var dq = new float[T * H * e]; var dk = new float[T * G * e]; var dv = new float[T * G * e];
        float[] qa = Act(rotary ? n.RotQ : n.Q), ka = Act(rotary ? n.RotK : n.K);
        AttentionBackward.Run(Act(n.Pattern), qa, ka, Act(n.V), dz,
            1, T, T, 0, H, G, e, _c.AttnScale(l), dP, dS, dq, dk, dv, CappedScores(l, qa, ka), (float)(_c.AttnSoftcap ?? 0));
        Grad(n.Pattern, dP, H, T, T);
        Grad(n.Scores, dS, H, T, T);
        if (rotary)
        {
            Grad(n.RotQ, dq, T, H, e);
            Grad(n.RotK, dk, T, G, e);
            for (int r = 0; r < T; r++)
            {
                _m.Rotary.ApplyInverse(dq.AsSpan(r * H * e, H * e), r);
                _m.Rotary.ApplyInverse(dk.AsSpan(r * G * e, G * e), r);
            }
        }
        if (_design.QkNorm) QkNormBackward(n, w, g, dq, dk);
        Grad(n.Q, dq, T, H, e);
        Grad(n.K, dk, T, G, e);
        Grad(n.V, dv, T, G, e);
        var h1 = NormOutput(n.Ln1Normalized, w.Ln1, w.Ln1Bias);          // [T, d]
        var dh1 = new float[T * d];
        QkvBackward(w, g, h1, dq, dk, dv, dh1);
        NormalizedGrad(n.Ln1Normalized, dh1, w.Ln1, T, d);
        NormRows(Act(n.ResidPre), Act(n.Ln1Scale), w.Ln1, dh1, dx, g?.Ln1, g?.Ln1Bias);
        Grad(n.ResidPre, dx, T, d);
    }
}
