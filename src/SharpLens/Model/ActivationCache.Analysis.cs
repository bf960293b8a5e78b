using System.Numerics.Tensors;
using SharpLens.Kernels;

namespace SharpLens.Model;

/// <summary>
/// TransformerLens' residual-stream analysis on any cache: <see cref="AccumulatedResid"/> (the logit lens),
/// <see cref="DecomposeResid"/> and <see cref="StackHeadResults"/> (direct logit attribution), <see cref="ApplyLnToStack"/>
/// and <c>LogitAttrs</c>. Each reads the activations it needs from the cache (it fails naming a missing one) and
/// the weights of the model that filled it. <c>pos</c> keeps one position (negative counts from the end).
/// </summary>
public sealed partial class ActivationCache
{
    /// <summary>
    /// The residual stream before each layer up to <paramref name="layer"/> inclusive (<c>{l}_pre</c>; with
    /// <paramref name="inclMid"/> also <c>{l}_mid</c> between; with <paramref name="mlpInput"/> <c>{layer}_mid</c> last), and
    /// for layer = n_layers (the default) the final <c>final_post</c>: the logit lens' inputs.
    /// </summary>
    public ResidStack AccumulatedResid(int? layer = null, bool inclMid = false, bool applyLn = false, int? pos = null, bool mlpInput = false)
    {
        var m = RequireModel(); int n = m.Config.NLayers; int L = LayerArg(layer, n);
        var hooks = new List<(string Label, string Hook)>();
        for (int l = 0; l <= L; l++)
        {
            if (l == n) { hooks.Add(("final_post", m.HookNames.Layers[n - 1].ResidPost)); continue; }
            hooks.Add(($"{l}_pre", m.HookNames.Layers[l].ResidPre));
            if ((inclMid && l < L) || (mlpInput && l == L)) hooks.Add(($"{l}_mid", m.HookNames.Layers[l].ResidMid));
        }
        var stack = Gather(hooks, pos);
        return applyLn ? ApplyLnToStack(stack, L, mlpInput) : stack;
    }

    /// <summary>
    /// The residual stream at <paramref name="layer"/> (default: after the last block) split into the outputs that wrote it:
    /// <c>embed</c>, then <c>{l}_attn_out</c> and <c>{l}_mlp_out</c> of each earlier layer (with <paramref name="mlpInput"/>
    /// also this layer's attention). The components sum to <c>hook_resid_pre</c> (or <c>resid_mid</c>, or the final
    /// <c>resid_post</c>).
    /// </summary>
    public ResidStack DecomposeResid(int? layer = null, bool mlpInput = false, bool applyLn = false, int? pos = null, bool inclEmbeds = true)
    {
        var m = RequireModel(); int n = m.Config.NLayers; int L = LayerArg(layer, n);
        var hooks = new List<(string Label, string Hook)>();
        if (inclEmbeds)
        {
            hooks.Add(("embed", HookNames.Embed));
            if (Contains("hook_pos_embed")) hooks.Add(("pos_embed", "hook_pos_embed"));   // learned positions (GPT-2)
        }
        for (int l = 0; l < L; l++)
        {
            hooks.Add(($"{l}_attn_out", m.HookNames.Layers[l].AttnOut));
            hooks.Add(($"{l}_mlp_out", m.HookNames.Layers[l].MlpOut));
        }
        if (mlpInput && L < n) hooks.Add(($"{L}_attn_out", m.HookNames.Layers[L].AttnOut));
        var stack = Gather(hooks, pos);
        return applyLn ? ApplyLnToStack(stack, L, mlpInput) : stack;
    }

    /// <summary>
    /// Every head's output (<c>hook_result</c>) of the layers before <paramref name="layer"/> (−1: all), labelled
    /// <c>L{l}H{h}</c>; computed from <c>hook_z</c> and W_O when the cache has no <c>hook_result</c>. With
    /// <paramref name="inclRemainder"/> a last <c>remainder</c> holds the rest of the residual stream at that layer.
    /// </summary>
    public ResidStack StackHeadResults(int layer = -1, bool inclRemainder = false, bool applyLn = false, int? pos = null)
    {
        var m = RequireModel(); var c = m.Config; int n = c.NLayers;
        int L = layer < 0 ? n : LayerArg(layer, n);
        var (B, T, p) = Dims(pos);
        int rows = p is null ? T : 1, d = c.DModel, H = c.NHeads, e = c.DHead, per = B * rows * d;
        int count = L * H + (inclRemainder ? 1 : 0);
        var data = new float[count * per];
        var labels = new List<string>();
        for (int l = 0; l < L; l++)
        {
            var names = m.HookNames.Layers[l];
            for (int h = 0; h < H; h++)
            {
                var dst = data.AsSpan((l * H + h) * per, per);
                if (Contains(names.Result))
                {
                    var r = this[names.Result];                               // [B, T, H, d]
                    for (int b = 0; b < B; b++)
                        for (int i = 0; i < rows; i++)
                            r.Data.AsSpan((((b * T) + (p ?? i)) * H + h) * d, d).CopyTo(dst.Slice((b * rows + i) * d, d));
                }
                else
                {
                    var z = this[names.Z];                                    // [B, T, H, e]
                    var zh = new float[B * rows * e];
                    for (int b = 0; b < B; b++)
                        for (int i = 0; i < rows; i++)
                            z.Data.AsSpan((((b * T) + (p ?? i)) * H + h) * e, e).CopyTo(zh.AsSpan((b * rows + i) * e, e));
                    Gemm.LinearForward(zh, B * rows, m.Weights.Layers[l].Wo.ColSlice(h * e, e), default, dst);
                }
                labels.Add($"L{l}H{h}");
            }
        }
        if (inclRemainder)
        {
            string total = L == n ? m.HookNames.Layers[n - 1].ResidPost : m.HookNames.Layers[L].ResidPre;
            var rem = data.AsSpan(L * H * per, per);
            Select(this[total], p, rem);
            for (int k = 0; k < L * H; k++) TensorPrimitives.Subtract(rem, data.AsSpan(k * per, per), rem);
            labels.Add("remainder");
        }
        int[] shape = p is null ? [count, B, T, d] : [count, B, d];
        var stack = new ResidStack(new Tensor(data, shape), labels.ToArray(), p, false);
        return applyLn ? ApplyLnToStack(stack, L) : stack;
    }

    /// <summary>
    /// Each component divided by the scale of the norm that reads the stream at <paramref name="layer"/> (default: the
    /// final norm; with <paramref name="mlpInput"/> the layer's <c>ln2</c>, else its <c>ln1</c>), with the run's own cached
    /// scale, as the model saw it — so the scaled components still sum to the normed stream. The family's norm does the
    /// arithmetic (<see cref="StackNorms"/>: RMSNorm divides, LayerNorm centres first). With <paramref name="ownScale"/>
    /// each component is normalised by the scale it would have on its own (the logit lens as a separate final norm
    /// per layer computes it).
    /// </summary>
    public ResidStack ApplyLnToStack(ResidStack stack, int? layer = null, bool mlpInput = false, bool ownScale = false)
    {
        ArgumentNullException.ThrowIfNull(stack);
        var m = RequireModel(); int n = m.Config.NLayers; int L = LayerArg(layer, n);
        var norm = StackNorms.For(m.Config);
        int d = m.Config.DModel;
        var data = (float[])stack.Stack.Data.Clone();
        int B = stack.Stack.Shape[1], rows = stack.Pos is null ? stack.Stack.Shape[2] : 1;
        float[]? scales = null;
        if (!ownScale)
        {
            string hook = L == n ? HookNames.LnFinalScale : mlpInput ? m.HookNames.Layers[L].Ln2Scale : m.HookNames.Layers[L].Ln1Scale;
            var s = this[hook];                                               // [B, T, 1]
            int T = s.Shape[1];
            scales = new float[B * rows];
            for (int b = 0; b < B; b++)
                for (int i = 0; i < rows; i++) scales[b * rows + i] = s.Data[b * T + (stack.Pos ?? i)];
        }
        for (int k = 0; k < data.Length / d; k++)
        {
            var v = data.AsSpan(k * d, d);
            norm.Apply(v, scales?[k % (B * rows)] ?? norm.Scale(v));
        }
        return stack with { Stack = new Tensor(data, stack.Stack.Shape), Scaled = true };
    }

    /// <summary>
    /// Each component's direct contribution to the logit of <paramref name="tokens"/> (one id for every batch item, or one
    /// per item), minus that of <paramref name="incorrectTokens"/> when given (a logit difference): the dot product of the
    /// final-norm-scaled component (applied here unless the stack is already scaled) with the token's residual direction.
    /// Returns [components, batch] for a stack at one position, else [components, batch, pos].
    /// </summary>
    public Tensor LogitAttrs(ResidStack stack, int[] tokens, int[]? incorrectTokens = null)
    {
        ArgumentNullException.ThrowIfNull(stack);
        var m = RequireModel(); int d = m.Config.DModel;
        if (!stack.Scaled) stack = ApplyLnToStack(stack);
        int C = stack.Count, B = stack.Stack.Shape[1], rows = stack.Pos is null ? stack.Stack.Shape[2] : 1;
        float[] Direction(int b)
        {
            int Pick(int[] ids, string what) => ids.Length == 1 ? ids[0] : ids.Length == B ? ids[b]
                : throw new ArgumentException($"{ids.Length} {what} for a batch of {B}: give one, or one per item");
            var dir = m.TokensToResidualDirections(Pick(tokens, "tokens"));
            if (incorrectTokens != null) TensorPrimitives.Subtract(dir, m.TokensToResidualDirections(Pick(incorrectTokens, "incorrect tokens")), dir);
            return dir;
        }
        var dirs = Enumerable.Range(0, B).Select(Direction).ToArray();
        var result = new float[C * B * rows];
        for (int k = 0; k < result.Length; k++)
            result[k] = TensorPrimitives.Dot(stack.Stack.Data.AsSpan(k * d, d), dirs[k / rows % B]);
        return new Tensor(result, stack.Pos is null ? [C, B, rows] : [C, B]);
    }

    /// <summary><see cref="LogitAttrs(ResidStack, int[], int[])"/> for one token (and one incorrect token) on every item.</summary>
    public Tensor LogitAttrs(ResidStack stack, int token, int? incorrectToken = null) =>
        LogitAttrs(stack, [token], incorrectToken is { } w ? [w] : null);

    static int LayerArg(int? layer, int n)
    {
        int L = layer is null or -1 ? n : layer.Value;
        if ((uint)L > (uint)n) throw new ArgumentOutOfRangeException(nameof(layer), $"layer {layer} of a {n}-layer model");
        return L;
    }

    /// <summary>Batch size, positions and the absolute position kept, from the cached residual stream.</summary>
    (int B, int T, int? Pos) Dims(int? pos)
    {
        var any = _acts.Values.FirstOrDefault(t => t.Rank >= 3) ?? throw new InvalidOperationException("the cache is empty");
        int B = any.Shape[0], T = Contains(HookNames.Embed) ? this[HookNames.Embed].Shape[1] : any.Shape[1];
        if (pos is not { } p) return (B, T, null);
        int abs = p < 0 ? T + p : p;
        if ((uint)abs >= (uint)T) throw new ArgumentOutOfRangeException(nameof(pos), $"position {p} of {T}");
        return (B, T, abs);
    }

    /// <summary>Copies a [B, T, d] activation, or its position <paramref name="pos"/> only, into dst.</summary>
    static void Select(Tensor act, int? pos, Span<float> dst)
    {
        if (pos is not { } p) { act.Data.CopyTo(dst); return; }
        int B = act.Shape[0], T = act.Shape[1], d = act.Shape[2];
        for (int b = 0; b < B; b++) act.Data.AsSpan((b * T + p) * d, d).CopyTo(dst.Slice(b * d, d));
    }

    ResidStack Gather(List<(string Label, string Hook)> hooks, int? pos)
    {
        var first = this[hooks[0].Hook];
        int B = first.Shape[0], T = first.Shape[1], d = first.Shape[2];
        int? p = pos is { } q ? (q < 0 ? T + q : q) : null;
        if (p is { } a && (uint)a >= (uint)T) throw new ArgumentOutOfRangeException(nameof(pos), $"position {pos} of {T}");
        int per = B * (p is null ? T : 1) * d;
        var data = new float[hooks.Count * per];
        for (int k = 0; k < hooks.Count; k++) Select(this[hooks[k].Hook], p, data.AsSpan(k * per, per));
        int[] shape = p is null ? [hooks.Count, B, T, d] : [hooks.Count, B, d];
        return new ResidStack(new Tensor(data, shape), hooks.Select(h => h.Label).ToArray(), p, false);
    }
}
