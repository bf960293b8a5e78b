namespace SharpLens.Model;

public sealed partial class ActivationCache
{
    /// <summary>The model whose run filled this cache (set by <see cref="HookedTransformer.Forward"/>); the analysis
    /// methods read its weights and configuration.</summary>
    public HookedTransformer? Model { get; internal set; }

    HookedTransformer RequireModel() => Model
        ?? throw new InvalidOperationException("this cache was not filled by a model run, so it has no weights to analyse with");
}
