using SharpLens.Diagnostics;
using SharpLens.Kernels;
using SharpLens.Loading;

namespace SharpLens.Model;

/// <summary>The block's backward: the forward's steps (<c>ForwardPass.Block.cs</c>) in reverse.</summary>
internal sealed partial class BackwardPass
{
    // The block's working buffers, reused by every block (hooks get copies): taken from the model's pool once a pass,
    // zeroed per use, given back at the pass's end.
    float[]? _dpost, _dgate, _dup, _dh2, _dz, _dP, _dS, _dq, _dk, _dv, _dh1;

    float[] Zeroed(ref float[]? buffer, int length)
    {
        if (buffer == null || buffer.Length != length)
        {
            _m.Pool.Return(buffer);
            buffer = _m.Pool.Rent(length);
        }
        Array.Clear(buffer);
        return buffer;
    }

    /// <summary>The gradient at <c>attn.hook_result</c> [T, H, d] when asked: the output projection's output is the heads'
    /// results summed (plus b_O), so each head's gets <paramref name="dattn"/> [T, d] itself. The forward computes the
    /// per-head results only when that hook is used; their gradient needs none of them.</summary>
    void HeadResultGrad(string hook, float[] dattn)
    {
        if (!_want(hook)) return;
        long t0 = StageTimer.Start();
        int T = _t, H = _c.NHeads, d = _c.DModel;
        var g = Grad(hook, [T, H, d]);
        for (int t = 0; t < T; t++)
            for (int h = 0; h < H; h++) dattn.AsSpan(t * d, d).CopyTo(g.AsSpan((t * H + h) * d, d));
        StageTimer.Stop(Stage.BackwardHookGrads, t0);
    }

    /// <param name="dx">the gradient at blocks.l.hook_resid_post on entry, at blocks.l.hook_resid_pre on return</param>
    void Block(int l, float[] dx)
    {
        int mark = _temps.Count;                                           // this block's working arrays go back at its end
        var w = _m.Weights.Layers[l]; var n = _m.HookNames.Layers[l]; var g = _wg?.Layers[l];
        int T = _t, d = _c.DModel, H = _c.NHeads, G = _c.NKvHeads, e = _c.DHead, f = _c.DMlp;
        Grad(n.ResidPost, dx, T, d);
        Grad(n.MlpOut, dx, T, d);
        var dAttnOut = AttnOutGradOfParallel(dx);                        // [T, d]; null when sequential: dx after the MLP

        // MLP: post-norm (Gemma 2), down projection, activation, gate/up (or input) projections.
        var dmlp = PostNormBackward(n.Ln2PostScale, n.Ln2PostNormalized, w.Ln2Post, dx, g?.Ln2Post);   // [T, d]: at the down projection's output
        var h2 = g != null ? NormOutput(n.Ln2Normalized, w.Ln2, w.Ln2Bias) : null;   // [T, d], for dW only
        var dpost = Zeroed(ref _dpost, T * f);                             // [T, f]
        Dx(dmlp, w.WDown, dpost);
        if (g != null) Dw(dmlp, Act(n.MlpPost), d, f, g.WDown, g.BDown);
        Grad(n.MlpPost, dpost, T, f);
        var dh2 = Zeroed(ref _dh2, T * d);                                 // [T, d]
        if (_design.Mlp == MlpKind.Gated)
        {
            var dgate = Zeroed(ref _dgate, T * f); var dup = Zeroed(ref _dup, T * f);
            long ta = StageTimer.Start();
            ActivationBackward.Gated(_design.Activation, Act(n.MlpPre), Act(n.MlpPreLinear), dpost, dgate, dup);
            StageTimer.Stop(Stage.BackwardElementwise, ta);
            Grad(n.MlpPre, dgate, T, f);
            Grad(n.MlpPreLinear, dup, T, f);
            Dx(dgate, w.WGate, dh2);
            Dx(dup, w.WUp, dh2);
            if (g != null)
            {
                Dw(dgate, h2!, f, d, g.WGate, g.BGate);
                Dw(dup, h2!, f, d, g.WUp, g.BUp);
            }
        }
        else
        {
            var dpre = Zeroed(ref _dgate, T * f);
            long ta = StageTimer.Start();
            ActivationBackward.Plain(_design.Activation, Act(n.MlpPre), dpost, dpre, Zeroed(ref _dup, T * f));
            StageTimer.Stop(Stage.BackwardElementwise, ta);
            Grad(n.MlpPre, dpre, T, f);
            Dx(dpre, w.WUp, dh2);
            if (g != null) Dw(dpre, h2!, f, d, g.WUp, g.BUp);
        }
        NormalizedGrad(n.Ln2Normalized, dh2, w.Ln2, T, d);
        NormRows(Act(Ln2Input(n)), n.Ln2Scale, w.Ln2, dh2, dx, g?.Ln2, g?.Ln2Bias);
        if (dAttnOut == null) Grad(n.ResidMid, dx, T, d);
        dAttnOut ??= dx;
        Grad(n.AttnOut, dAttnOut, T, d);

        // Attention: post-norm (Gemma 2), output projection, softmax attention, rotary, q/k norms (Qwen3), QKV projections.
        var dattn = PostNormBackward(n.Ln1PostScale, n.Ln1PostNormalized, w.Ln1Post, dAttnOut, g?.Ln1Post);  // [T, d]: at o_proj's output
        HeadResultGrad(n.Result, dattn);
        var dz = Zeroed(ref _dz, T * H * e);                               // [T, H, e]
        Dx(dattn, w.Wo, dz);
        if (g != null) Dw(dattn, Act(n.Z), d, H * e, g.Wo, g.Bo);
        Grad(n.Z, dz, T, H, e);
        bool rotary = _design.Positions == PositionKind.Rotary;
        var dP = Zeroed(ref _dP, H * T * T); var dS = Zeroed(ref _dS, H * T * T);       // [H, T, T]
        var dq = Zeroed(ref _dq, T * H * e); var dk = Zeroed(ref _dk, T * G * e); var dv = Zeroed(ref _dv, T * G * e);
        float[] qa = Act(rotary ? n.RotQ : n.Q), ka = Act(rotary ? n.RotK : n.K);
        var capped = CappedScores(l, qa, ka);
        long t0 = StageTimer.Start();
        AttentionBackward.Run(Act(n.Pattern), qa, ka, Act(n.V), dz,
            1, T, T, 0, H, G, e, _c.AttnScale(l), dP, dS, dq, dk, dv, capped, (float)(_c.AttnSoftcap ?? 0));
        StageTimer.Stop(Stage.BackwardAttention, t0);
        Grad(n.Pattern, dP, H, T, T);
        Grad(n.Scores, dS, H, T, T);
        if (rotary)
        {
            Grad(n.RotQ, dq, T, H, e);
            Grad(n.RotK, dk, T, G, e);
            t0 = StageTimer.Start();
            for (int r = 0; r < T; r++)
            {
                _m.Rotary.ApplyInverse(dq.AsSpan(r * H * e, H * e), r);
                _m.Rotary.ApplyInverse(dk.AsSpan(r * G * e, G * e), r);
            }
            StageTimer.Stop(Stage.BackwardElementwise, t0);
        }
        if (_design.QkNorm) QkNormBackward(n, w, g, dq, dk);
        Grad(n.Q, dq, T, H, e);
        Grad(n.K, dk, T, G, e);
        Grad(n.V, dv, T, G, e);
        var h1 = g != null ? NormOutput(n.Ln1Normalized, w.Ln1, w.Ln1Bias) : null;   // [T, d], for dW only
        var dh1 = Zeroed(ref _dh1, T * d);
        QkvBackward(w, g, h1, dq, dk, dv, dh1);
        NormalizedGrad(n.Ln1Normalized, dh1, w.Ln1, T, d);
        NormRows(Act(n.ResidPre), n.Ln1Scale, w.Ln1, dh1, dx, g?.Ln1, g?.Ln1Bias);
        Grad(n.ResidPre, dx, T, d);
        ReleaseTemporariesFrom(mark);
    }
}
