using System.Numerics.Tensors;

namespace SharpLens.Model;

public sealed partial class HookedTransformer
{
    /// <summary>
    /// The residual-stream direction whose dot product with a final-norm-scaled stream is token <paramref name="token"/>'s
    /// logit: <c>w_final ⊙ W_U[t]</c> [d_model]. (TransformerLens folds the final norm's weight into W_U when it processes
    /// weights; SharpLens keeps the checkpoint's weights and folds it here.)
    /// </summary>
    public float[] TokensToResidualDirections(int token)
    {
        if ((uint)token >= (uint)Config.VocabSize) throw new ArgumentOutOfRangeException(nameof(token), $"token {token} of a {Config.VocabSize}-token vocabulary");
        var dir = new float[Config.DModel];
        Weights.Unembed.ReadRow(token, dir);
        TensorPrimitives.Multiply(dir, Weights.LnFinal, dir);
        return dir;
    }
}
