using SharpLens.Experiments;

namespace SharpLens.Model;

/// <summary>The <see cref="Intervention"/> setters of sweeps (Patch, PatchHeads, ZeroAll, FillHead, …) as hooks of a plain run.</summary>
public sealed partial class HookSet
{
    /// <summary>Applies <paramref name="intervention"/> to every batch item of runs with this set.</summary>
    public HookSet Add(Intervention intervention)
    {
        ArgumentNullException.ThrowIfNull(intervention);
        return Add(intervention.Hook, (HookFn)(ctx => intervention.Apply(ctx.Data, ctx.Shape, ctx.PosOffset)));
    }

    /// <summary>A set applying each intervention in order.</summary>
    public static HookSet From(IEnumerable<Intervention> interventions)
    {
        var set = new HookSet();
        foreach (var x in interventions) set.Add(x);
        return set;
    }
}
