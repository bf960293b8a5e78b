using SharpLens.Experiments;

namespace SharpLens.Model;

/// <summary>Run variants by hook name and with <see cref="Intervention"/>s; every name is checked against the model.</summary>
public sealed partial class HookedTransformer
{
    /// <summary>Logits and exactly the activations named (each checked: an unknown name is an <see cref="UnknownHookException"/>
    /// naming the closest valid ones).</summary>
    public (Tensor Logits, ActivationCache Cache) RunWithCache(int[][] tokens, params string[] names)
    {
        HookNames.CheckAll(names);
        var wanted = names.ToHashSet(StringComparer.Ordinal);
        return RunWithCache(tokens, wanted.Contains);
    }

    /// <summary>Logits of a run with each intervention applied to every batch item (the setters sweeps use).</summary>
    public Tensor RunWithHooks(int[][] tokens, IEnumerable<Intervention> interventions) => RunWithHooks(tokens, HookSet.From(interventions));

    /// <summary>Logits and the activations passing <paramref name="filter"/> of a run with <paramref name="hooks"/>
    /// (the cache holds the hooked values).</summary>
    public (Tensor Logits, ActivationCache Cache) RunWithHooksAndCache(int[][] tokens, HookSet hooks, Func<string, bool>? filter = null)
    {
        var r = Forward(tokens, new RunOptions { Hooks = hooks, CacheFilter = filter ?? (_ => true) });
        return (r.Logits!, r.Cache);
    }
}
