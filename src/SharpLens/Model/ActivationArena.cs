namespace SharpLens.Model;

internal enum ArenaSlot { Resid, Normed, Scale, Q, K, V, KAll, VAll, Scores, Z, Result, AttnOut, Gate, Up, Post, MlpOut, HeadIn, HeadOut, Gather, LastResid, LastNormed, PosEmbed, Qkv, PostNormed }

/// <summary>
/// The activation arena: one growable buffer per stage of the forward pass, reused by every run of a model
/// (runs of one model are serialised; parallelism lives inside the kernels).
/// </summary>
internal sealed class ActivationArena
{
    readonly float[][] _slots = new float[Enum.GetValues<ArenaSlot>().Length][];

    public Span<float> Get(ArenaSlot slot, int length)
    {
        ref var buf = ref _slots[(int)slot];
        if (buf == null || buf.Length < length) buf = new float[Math.Max(length, (buf?.Length ?? 0) * 5 / 4)];
        return buf.AsSpan(0, length);
    }

    public long Bytes => _slots.Sum(s => (long)(s?.Length ?? 0) * sizeof(float));
}
