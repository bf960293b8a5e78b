namespace SharpLens.Model;

/// <summary>
/// Components of the residual stream stacked along a first axis, as <see cref="ActivationCache.DecomposeResid"/>,
/// <see cref="ActivationCache.AccumulatedResid"/> and <see cref="ActivationCache.StackHeadResults"/> return them.
/// </summary>
/// <param name="Stack">[components, batch, pos, d_model], or [components, batch, d_model] when <paramref name="Pos"/> is set.</param>
/// <param name="Labels">One label per component, TransformerLens' (<c>embed</c>, <c>0_attn_out</c>, <c>L0H3</c>, <c>3_pre</c>,
/// <c>final_post</c>, …).</param>
/// <param name="Pos">The one position kept (absolute), or null for every position.</param>
/// <param name="Scaled">Whether <see cref="ActivationCache.ApplyLnToStack"/> has been applied.</param>
public sealed record ResidStack(Tensor Stack, string[] Labels, int? Pos, bool Scaled)
{
    /// <summary>The component labelled <paramref name="label"/>: [batch, pos, d_model] or [batch, d_model] (a copy).</summary>
    public Tensor this[string label]
    {
        get
        {
            int i = Array.IndexOf(Labels, label);
            if (i < 0) throw new KeyNotFoundException($"no component \"{label}\"; the components are {string.Join(", ", Labels)}");
            return Stack.At(i);
        }
    }

    /// <summary>Number of components.</summary>
    public int Count => Labels.Length;
}
