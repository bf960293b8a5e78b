namespace SharpLens.Model;

/// <summary>
/// Where a batch of prompts of different lengths puts its padding. <see cref="Right"/> (TransformerLens' default):
/// every prompt starts at row 0, so its positions are the row numbers and causal attention never reaches the pads after
/// it. <see cref="Left"/>: every prompt ends on the last row (its final token is <c>logits[:, -1]</c> for all, handy for
/// generation); its positions count from its first real token (rotary or learned), and the pads before it are masked
/// from its keys.
/// </summary>
public enum PaddingSide { Right, Left }

/// <summary>
/// Prompts of different lengths laid out as one rectangular batch [batch, Width]: which rows hold each prompt, its
/// attention mask, and helpers to read a prompt's own rows out of a batched tensor ([batch, pos, ...]). Every prompt's
/// results at its own rows equal running it alone (within rounding); pad rows hold values nothing should read.
/// </summary>
public sealed class PromptBatch
{
    /// <summary>The token of pad rows (any id works: pads are never attended to by a prompt's own rows).</summary>
    public const int PadToken = 0;

    /// <summary>Tokens per prompt, in order.</summary>
    public int[] Lengths { get; }
    public PaddingSide Side { get; }
    /// <summary>Rows per prompt in the batch: the longest prompt's length.</summary>
    public int Width { get; }
    /// <summary>The padded tokens [batch][Width] (pads are <see cref="PadToken"/>).</summary>
    public int[][] Tokens { get; }

    PromptBatch(int[][] prompts, PaddingSide side)
    {
        Side = side;
        Lengths = prompts.Select(p => p.Length).ToArray();
        Width = Lengths.Max();
        Tokens = new int[prompts.Length][];
        for (int b = 0; b < prompts.Length; b++)
        {
            Tokens[b] = new int[Width];                                  // pads are PadToken (0): a new array already holds them
            prompts[b].CopyTo(Tokens[b], Start(b));
        }
    }

    /// <summary>Lays out <paramref name="prompts"/> (each non-empty) with padding on <paramref name="side"/>.</summary>
    public static PromptBatch From(IReadOnlyList<int[]> prompts, PaddingSide side = PaddingSide.Right)
    {
        if (prompts.Count == 0) throw new ArgumentException("empty batch", nameof(prompts));
        if (prompts.Any(p => p is null || p.Length == 0)) throw SharpLensException.Input("empty prompt: nothing to run");
        return new PromptBatch(prompts.ToArray(), side);
    }

    public int Count => Lengths.Length;
    /// <summary>Whether any row is a pad (prompts of different lengths).</summary>
    public bool IsPadded => Lengths.Any(n => n != Width);

    /// <summary>The row of prompt <paramref name="b"/>'s position 0 (its count of left pads).</summary>
    public int Start(int b) => Side == PaddingSide.Left ? Width - Lengths[b] : 0;
    /// <summary>The row of prompt <paramref name="b"/>'s position <paramref name="pos"/> (negative: from its end, −1 = its last token).</summary>
    public int Row(int b, int pos)
    {
        int n = Lengths[b];
        if (pos < 0) pos += n;
        if ((uint)pos >= (uint)n) throw new ArgumentOutOfRangeException(nameof(pos), $"prompt {b} has {n} tokens, no position {pos}");
        return Start(b) + pos;
    }
    /// <summary>The row of prompt <paramref name="b"/>'s last token.</summary>
    public int LastRow(int b) => Row(b, -1);

    /// <summary>The attention mask [batch, Width]: 1 for a prompt's own rows, 0 for pads (TransformerLens' attention_mask).</summary>
    public Tensor AttentionMask
    {
        get
        {
            var m = Tensor.Zeros(Count, Width);
            for (int b = 0; b < Count; b++) m.Slice(b).Slice(Start(b), Lengths[b]).Fill(1);
            return m;
        }
    }

    /// <summary>Prompt <paramref name="b"/>'s own rows of a batched activation or logits [batch, Width, ...]: a new tensor
    /// [length, ...], what running it alone gives at batch item 0.</summary>
    public Tensor Positions(Tensor batched, int b)
    {
        if (batched.Rank < 2 || batched.Shape[0] != Count || batched.Shape[1] != Width)
            throw new ArgumentException($"expected [{Count}, {Width}, ...], got {batched}", nameof(batched));
        int per = batched.Stride0 / Width;
        return new Tensor(batched.Slice(b).Slice(Start(b) * per, Lengths[b] * per).ToArray(), [Lengths[b], .. batched.Shape[2..]]);
    }

    /// <summary>Prompt <paramref name="b"/>'s logits at its own last position, from logits [batch, Width, vocab]:
    /// a new tensor [vocab].</summary>
    public Tensor LastLogits(Tensor logits, int b)
    {
        if (logits.Rank != 3 || logits.Shape[0] != Count || logits.Shape[1] != Width)
            throw new ArgumentException($"expected logits [{Count}, {Width}, vocab], got {logits}", nameof(logits));
        int V = logits.Shape[2];
        return new Tensor(logits.Slice(b).Slice(LastRow(b) * V, V).ToArray(), V);
    }
}
