using System.Diagnostics;
using System.Text.Json.Nodes;

namespace SharpLens.Diagnostics;

/// <summary>Stages of the forward pass, of the backward pass (<c>Backward*</c>) and of the vocabulary scans that
/// <see cref="StageTimer"/> accounts for.</summary>
public enum Stage
{
    Embed, Norm, QkvProj, Rotary, KvGather, Attention, OProj, HeadResults, GateUpProj, SwiGlu, DownProj, Residual, Hooks, LmHead, VocabScan,
    /// <summary>dx = dy · W of every projection (the unembedding's included).</summary>
    BackwardInputGrad,
    /// <summary>dW = dyᵀ · x and db (only when weight gradients are asked for).</summary>
    BackwardWeightGrad,
    /// <summary>The softmax attention's backward (pattern, scores, q, k, v).</summary>
    BackwardAttention,
    /// <summary>Norms (and re-applying a norm's weight to its cached output), activations and inverse rotary.</summary>
    BackwardElementwise,
    /// <summary>Copying each hook's gradient into its <c>Tensor</c>.</summary>
    BackwardHookGrads,
}

/// <summary>
/// Wall-clock time per <see cref="Stage"/>, summed over every run, when the environment variable
/// <c>SHARPLENS_PROFILE=1</c> is set (otherwise one branch per stage and nothing else). <c>sharplens bench</c> reports the
/// totals; they show where a forward or a study spends its time.
/// </summary>
public static class StageTimer
{
    static readonly long[] Ticks = new long[Enum.GetValues<Stage>().Length];
    static readonly long[] Calls = new long[Ticks.Length];

    /// <summary>Whether timing is on (<c>SHARPLENS_PROFILE=1</c>, or set by a caller).</summary>
    public static bool Enabled { get; set; } = Environment.GetEnvironmentVariable("SHARPLENS_PROFILE") == "1";

    /// <summary>A start timestamp (0 when disabled).</summary>
    internal static long Start() => Enabled ? Stopwatch.GetTimestamp() : 0;

    /// <summary>Adds the time since <paramref name="start"/> to <paramref name="stage"/>.</summary>
    internal static void Stop(Stage stage, long start)
    {
        if (!Enabled) return;
        Interlocked.Add(ref Ticks[(int)stage], Stopwatch.GetTimestamp() - start);
        Interlocked.Increment(ref Calls[(int)stage]);
    }

    public static void Reset()
    {
        Array.Clear(Ticks);
        Array.Clear(Calls);
    }

    /// <summary>Seconds per stage with any time, largest first; null when disabled.</summary>
    public static JsonObject? Snapshot()
    {
        if (!Enabled) return null;
        var o = new JsonObject();
        foreach (var s in Enum.GetValues<Stage>().OrderByDescending(s => Ticks[(int)s]))
            if (Calls[(int)s] > 0) o[s.ToString()] = Math.Round((double)Ticks[(int)s] / Stopwatch.Frequency, 3);
        return o;
    }
}
