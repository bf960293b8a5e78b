using SharpLens.Loading;

namespace SharpLens.Model;

/// <summary>The parallel residual's backward (GPT-NeoX's <c>use_parallel_residual</c>:
/// <c>resid_post = resid_pre + attn(ln1(resid_pre)) + mlp(ln2(resid_pre))</c>): attention and MLP outputs both get the
/// gradient at <c>hook_resid_post</c>, and the second norm reads the block input, so its backward adds into the gradient
/// at <c>hook_resid_pre</c> rather than at a <c>hook_resid_mid</c> (which a parallel block does not have).</summary>
internal sealed partial class BackwardPass
{
    bool IsParallel => _design.Residual == ResidualKind.Parallel;

    /// <summary>The gradient at <c>hook_attn_out</c> [T, d] when the block is parallel: a copy of the one at
    /// <c>hook_resid_post</c>, taken before the MLP's norm adds into <paramref name="dx"/>. Null when sequential: then
    /// it is <paramref name="dx"/> itself once the MLP's backward has run (the gradient at <c>hook_resid_mid</c>).</summary>
    float[]? AttnOutGradOfParallel(float[] dx)
    {
        if (!IsParallel) return null;
        var copy = Temp(dx.Length, zeroed: false);
        dx.CopyTo(copy, 0);
        return copy;
    }

    /// <summary>The hook holding the second norm's input: <c>hook_resid_mid</c>, or the block input when parallel.</summary>
    string Ln2Input(LayerHookNames n) => IsParallel ? n.ResidPre : n.ResidMid;
}
